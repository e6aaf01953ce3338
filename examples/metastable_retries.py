"""A retry storm that outlives its spike: the hysteresis loop of a retrying client.

examples/models/metastable_retries.yaml: a checkout API of 8 servers (20 ms, 400
requests/s at most) whose clients give up after 100 ms and retry up to 3 times, while the
servers finish the abandoned attempts. Going up in load the API stays healthy up to about
343/s; coming down from an overload it stays in the storm — 4 attempts per request, none
answered in time — down to 100/s, where 4 attempts per request no longer fill the servers
(400/s / 4). Between the two, both states are stable: the metastable region (Bronson et
al., HotOS 2021; Huang et al., OSDI 2022). Then each single change: which removes it.

    python examples/metastable_retries.py [--quick] [--out DIR]
"""

from __future__ import annotations

from pathlib import Path

from _common import arguments, save

import qmodel
from qmodel.experiments.metastability import figure, metastability, remedies

MODEL = Path(__file__).resolve().parent / "models" / "metastable_retries.yaml"


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    model = qmodel.load(MODEL)
    points = 8 if args.quick else 40
    loop = metastability(model, points=points)
    table = loop.table
    print(f"{'offered/s':>10} {'up: goodput/s':>14} {'attempts/s':>11} "
          f"{'down: goodput/s':>16} {'attempts/s':>11}")
    up = table[table.direction == "up"].set_index("lam0")
    down = table[table.direction == "down"].set_index("lam0")
    for lam0 in up.index:
        print(f"{lam0:>10.1f} {up.goodput[lam0]:>14.1f} {up.lam_eff[lam0]:>11.1f} "
              f"{down.goodput[lam0]:>16.1f} {down.lam_eff[lam0]:>11.1f}")
    low, high = loop.interval
    s = loop.setting
    print(f"metastable from {low:.1f}/s to {high:.1f}/s offered "
          f"(low end by hand: {s.capacity:.0f}/s / {s.policy.max_retries + 1} attempts "
          f"= {s.capacity / (s.policy.max_retries + 1):.1f}/s)")
    print(f"at {s.rate:.0f}/s: {' or '.join(p.state for p in loop.here)}")
    fixes = remedies(model, points=points)
    for row in fixes.to_dict("records"):
        where = "none" if row["removes"] else \
            f"{row['metastable_low']:.1f}/s to {row['metastable_high']:.1f}/s"
        print(f"  {row['change']:<40} metastable: {where}")
    print("removes it: " + ", ".join(fixes.change[fixes.removes]))
    save(figure(loop, "A retrying client: going up and coming down"), args.out,
         "metastable_retries")


if __name__ == "__main__":
    main()
