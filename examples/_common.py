"""What every example shares: its command line, the topologies folder, saving the figure."""

from __future__ import annotations

import argparse
from pathlib import Path

import plotly.graph_objects as go

TOPOLOGIES = Path(__file__).resolve().parents[1] / "topologies"


def arguments(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """``--quick`` (small sizes, for tests) and ``--out DIR`` (where the figure goes)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--out", type=Path, default=Path("out"),
                        help="directory for the HTML figure (default: out)")
    return parser.parse_args(argv)


def save(fig: go.Figure, out: Path, name: str) -> Path:
    """Write ``fig`` to ``out/NAME.html``, plotly.js embedded (no network needed to open it),
    and say where."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.html"
    fig.write_html(path, include_plotlyjs=True)  # plotly.js inside: opens offline
    print(f"figure: {path}")
    return path
