"""Printing ``qmodel metastability``: the hysteresis loop and what removes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from ..units import TIME_UNITS, human_rate, rate_unit
from .support import out

if TYPE_CHECKING:
    import pandas as pd

    from ..experiments.metastability import Metastability


def print_loop(result: Metastability) -> None:
    """The up and down branches side by side, then where the class's own rate stands."""
    table = result.table
    per = rate_unit(float(table.lam_eff.max()))
    scale = TIME_UNITS[per]
    grid = Table(title=f"{escape(str(result))}", header_style="bold")
    grid.add_column(f"offered (/{per})", justify="right")
    for direction in ("up", "down"):
        grid.add_column(f"{direction}: state")
        for label in (f"goodput (/{per})", f"attempts (/{per})", "P(timeout)"):
            grid.add_column(label, justify="right")
    up = table[table.direction == "up"].set_index("lam0")
    down = table[table.direction == "down"].set_index("lam0")
    for lam0 in up.index:
        cells = [f"{lam0 * scale:.4g}"]
        for row in (up.loc[lam0], down.loc[lam0]):
            state = row.branch if row.state != "metastable" else f"{row.branch} (of 2)"
            cells += [state, f"{row.goodput * scale:.4g}", f"{row.lam_eff * scale:.4g}",
                      f"{row.p_timeout:.3f}"]
        grid.add_row(*cells)
    out.print(grid)
    out.print(f"method: {result.method}; back-off and jitter are not in the fixed point "
              "(they change how fast the states are left, not the states)", highlight=False)
    if result.inside:
        s = result.setting
        storm = result.here[-1]
        out.print(f"[bold yellow]warning:[/] {escape(s.job_class)} at {human_rate(s.rate)} is "
                  f"inside the metastable region: a spike can leave it in a retry storm "
                  f"({storm.amplification:.3g} attempts per request, goodput "
                  f"{human_rate(storm.goodput)}) that outlasts the spike", highlight=False)


def print_remedies(fixes: pd.DataFrame, result: Metastability) -> None:
    """Each remedy alone: whether it removes the metastable region, and where it leaves it."""
    grid = Table(title=f"what removes it (each change alone, at the same offered loads; "
                       f"state at {human_rate(result.setting.rate)})", header_style="bold")
    notes = bool(fixes.note.str.len().any())
    for column in ("change", "metastable from", "to", "removes it", "at the rate",
                   *(["note"] if notes else [])):
        grid.add_column(column, justify="right" if column in ("metastable from", "to")
                        else "left")
    for row in fixes.to_dict("records"):
        ends = ["—", "—"] if row["removes"] else \
            [human_rate(row["metastable_low"]), human_rate(row["metastable_high"])]
        grid.add_row(escape(row["change"]), *ends, "yes" if row["removes"] else "no",
                     row["at_rate"], *([row["note"]] if notes else []))
    out.print(grid)
