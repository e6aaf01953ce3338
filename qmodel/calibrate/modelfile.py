"""Writing a calibrated model as a model file a person can read: provenance comments at
the top and beside each estimated field, the ``calibration:`` section at the end.

The comments come from ``calibration.data["header"]`` (lines) and
``calibration.data["comments"]`` (``{dotted path: text}``, e.g. ``nodes.api.service``).
The text is checked to load back to the same model before it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import QModelError
from ..model.model import Model
from .result import Calibration


def model_text(calibration: Calibration) -> str:
    """The model file's text (YAML), with comments; it loads back to ``calibration.model``."""
    doc = calibration.model.to_dict()
    comments: dict[str, str] = calibration.data.get("comments", {})
    lines = [f"# {h}" for h in calibration.data.get("header", [])]
    for key, value in doc.items():
        if key in ("arrivals", "users", "nodes") and isinstance(value, dict):
            lines.append(f"{key}:")
            for name, entry in value.items():
                lines.append(_note(f"  {name}:", comments.get(f"{key}.{name}")))
                for field, v in entry.items():
                    lines.append(_note(f"    {field}: {_flow(v)}",
                                       comments.get(f"{key}.{name}.{field}")))
        elif key == "calibration" and isinstance(value, dict):
            lines.append("calibration:")
            lines.append(f"  source: {_flow(value.get('source', ''))}")
            lines.append("  parameters:")
            for path, entry in value.get("parameters", {}).items():
                lines.append(f"    {path}: {_flow(entry)}")
            lines.append("  assumptions:")
            lines += [f"    - {_flow(a)}" for a in value.get("assumptions", [])]
        else:
            lines.append(f"{key}: {_flow(value)}")
    text = "\n".join(lines) + "\n"
    if Model.from_yaml(text).to_dict() != doc:  # a bug, not bad input
        raise QModelError("the model file does not read back to the calibrated model")
    return text


def write_model(calibration: Calibration, path: str | Path) -> Path:
    """Write :func:`model_text` to ``path``."""
    path = Path(path)
    path.write_text(model_text(calibration), encoding="utf-8")
    return path


def _flow(value: Any) -> str:
    text = yaml.safe_dump([value], default_flow_style=True, width=2**31, sort_keys=False,
                          allow_unicode=True).strip()
    return text[1:-1]


def _note(line: str, comment: str | None) -> str:
    if not comment:
        return line
    return f"{line}  # {' '.join(comment.split())}"
