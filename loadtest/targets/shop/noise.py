"""Sampling noise of a measured window: the shop's ideal network (the nominal model, a
Jackson network of M/M/c queues) simulated with ``qmodel.simulate`` for many windows of
the given length after a warm-up, each window's end-to-end mean and p95 compared with the
long-run values. What a perfect system would scatter by, and so the least tolerance a
check of one window can have.

    python -m loadtest.targets.shop.noise --rho 0.5 --window 12 --windows 300
"""

from __future__ import annotations

import argparse

import numpy as np

import qmodel
from qmodel.model.model import Model

from .launch import ShopConfig


def nominal_model(config: ShopConfig, rate: float) -> Model:
    """The shop as designed: what a calibration should come back to."""
    return Model.from_dict({
        "time_unit": "ms",
        "arrivals": {"POST_order": {"to": "frontend", "rate": f"{rate!r}/s"}},
        "nodes": {
            "frontend": {"kind": "queue", "servers": config.frontend.servers,
                         "service": {"dist": "exponential",
                                     "mean": f"{config.frontend.mean_s!r}s"},
                         "next": {"backend": config.p_call}},
            "backend": {"kind": "queue", "servers": config.backend.servers,
                        "service": {"dist": "exponential",
                                    "mean": f"{config.backend.mean_s!r}s"}}}})


def window_noise(config: ShopConfig, rho: float, window_s: float, windows: int = 300,
                 warmup_s: float = 2.0, seed: int = 1) -> dict[str, float]:
    """Relative standard deviation (and 99th percentile of the absolute relative error)
    of one window's end-to-end mean and p95, against a long run's."""
    rate = config.rate_for(rho)
    model = nominal_model(config, rate)
    long = qmodel.simulate(model, replications=4, customers=200_000, seed=seed + 1,
                           progress=False)
    truth = (float(long.system.mean_response_time), float(long.system.p95_response_time))
    run = qmodel.simulate(model, replications=windows, horizon=warmup_s + window_s,
                          warmup=warmup_s, trace=True, seed=seed, progress=False)
    frame = run.trace
    jobs = frame.groupby(["replication", "job"]).agg(arrival=("arrival_s", "min"),
                                                     end=("end_s", "max"))
    jobs = jobs[jobs["arrival"] >= warmup_s]
    jobs["response"] = jobs["end"] - jobs["arrival"]
    per = jobs.groupby(level="replication")["response"]
    errors = {"mean": per.mean().to_numpy() / truth[0] - 1,
              "p95": per.quantile(0.95).to_numpy() / truth[1] - 1}
    out = {"rate": rate, "window_s": window_s, "windows": len(errors["mean"]),
           "mean_s": truth[0], "p95_s": truth[1]}
    for key, err in errors.items():
        out[f"{key}_rel_sd"] = float(np.std(err))
        out[f"{key}_abs_p99"] = float(np.percentile(np.abs(err), 99))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rho", type=float, action="append")
    parser.add_argument("--window", type=float, action="append")
    parser.add_argument("--windows", type=int, default=300)
    args = parser.parse_args(argv)
    for rho in args.rho or [0.5]:
        for window in args.window or [12.0]:
            r = window_noise(ShopConfig(), rho, window, args.windows)
            print(f"rho {rho:g} window {window:g}s ({r['windows']} windows, rate "
                  f"{r['rate']:.1f}/s): mean {r['mean_s'] * 1e3:.2f} ms sd "
                  f"{r['mean_rel_sd']:.1%} |err| p99 {r['mean_abs_p99']:.1%}; p95 "
                  f"{r['p95_s'] * 1e3:.2f} ms sd {r['p95_rel_sd']:.1%} "
                  f"|err| p99 {r['p95_abs_p99']:.1%}")


if __name__ == "__main__":
    main()
