"""Response-time distributions: the M/M/1 simulated CDF against the exact exponential, the
M/M/c closed form against the textbook Erlang C, the table and the figure."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qmodel
from qmodel.sim.distribution import (
    PROBS,
    SYSTEM,
    cdf_figure,
    density_frame,
    histogram_figure,
    percentile_table,
    response_cdf,
)


def queue(rate: str, service: str = "10ms", servers: int = 1) -> qmodel.Model:
    return qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": service, "servers": servers}},
        "arrivals": {"web": {"to": "app", "rate": rate}}})


@pytest.fixture(scope="module")
def mm1() -> tuple[qmodel.Model, object]:
    m = queue("50/s")  # rho = 0.5: the response is Exp(mu - lambda = 50/s)
    return m, response_cdf({"analytic": qmodel.solve(m),
                            "simulated": qmodel.simulate(m, replications=4, customers=4000,
                                                         seed=19)})


def test_mm1_simulated_cdf_matches_the_exact_exponential(mm1):
    _, frame = mm1
    exact = frame[frame.source == "analytic"]
    assert np.allclose(exact.time_s, -np.log1p(-exact.p) / 50, rtol=1e-9)
    sim = frame[frame.source == "simulated"]
    assert len(sim) == len(PROBS)
    body = sim[sim.p <= 0.99]
    # Kolmogorov-Smirnov distance on the grid: |F(simulated quantile) - p|
    distance = np.max(np.abs(1 - np.exp(-50 * body.time_s) - body.p))
    assert distance < 0.02, distance  # measured 0.0067
    truth = -np.log1p(-body.p) / 50
    inside = ((body.low_s <= truth) & (truth <= body.high_s)).mean()
    assert inside >= 0.8, inside  # 95% intervals, 23 correlated points


@pytest.mark.parametrize("lam, servers, erlang_c", [
    (1.5, 3, 0.236842105),  # C(3, 1.5) = 1.125 / 4.75
    (1.0, 2, 1 / 3),        # C(2, 1): theta = c mu - lambda = mu, the degenerate case
])
def test_mmc_response_cdf_is_the_closed_form(lam, servers, erlang_c):
    m = queue(f"{lam}/s", "1s", servers)
    res = qmodel.solve(m)
    assert float(res.nodes["app"].p_wait) == pytest.approx(erlang_c, rel=1e-8)
    theta, mu = servers - lam, 1.0
    frame = response_cdf({"analytic": res})

    def survival(t: float) -> float:  # R = W + S, P(W > t) = C e^{-theta t}
        if math.isclose(theta, mu):
            return math.exp(-t) * (1 + erlang_c * t)
        return (1 - erlang_c) * math.exp(-mu * t) + erlang_c * (
            theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)

    got = [1 - survival(t) for t in frame.time_s]
    assert np.allclose(got, frame.p, rtol=0, atol=1e-9)


def test_table_and_figure(mm1):
    m, frame = mm1
    table = percentile_table(frame, [0.5, 0.999], 1000).set_index("percentile")
    assert table.loc["p99.9", "analytic"] == pytest.approx(1000 * math.log(1000) / 50)
    low, high = (float(x) for x in table.loc["p50", "simulated 95%"].split(" – "))
    assert low <= table.loc["p50", "simulated"] <= high
    with pytest.raises(ValueError, match="percentiles must be among p50"):
        percentile_table(frame, [0.42])
    fig = cdf_figure(frame)
    names = [t.name for t in fig.data if t.name]
    assert names == ["web (analytic)", "web (simulated)"]
    assert [t.line.dash for t in fig.data if t.name] == ["dash", "solid"]


def test_several_classes_add_the_end_to_end_curve():
    m = qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": "10ms"}},
        "arrivals": {"a": {"to": "app", "rate": "20/s"}, "b": {"to": "app", "rate": "20/s"}}})
    frame = response_cdf({"analytic": qmodel.solve(m)}, [0.5])
    # one queue, two Poisson classes of the same service: all see Exp(mu - lambda = 60/s)
    assert frame["class"].tolist() == ["a", "b", SYSTEM]
    assert np.allclose(frame.time_s, math.log(2) / 60)
    unstable = response_cdf({"analytic": qmodel.solve(queue("150/s"))})
    assert unstable.empty


def test_mm1_histogram_matches_the_exponential_density(mm1):
    """Each simulated bar's density against the exact mass of Exp(50/s) over the bar's
    own interval, divided by its width (an independent reckoning of the same bar)."""
    _, frame = mm1
    bars = density_frame(frame)
    sim = bars[(bars.source == "simulated") & (bars.right_s < 0.06)]  # p < ~0.95
    exact = (np.exp(-50 * sim.left_s) - np.exp(-50 * sim.right_s)) / (sim.right_s - sim.left_s)
    # measured: 20 bars within 0.914-1.087 of exact, 1.002 weighted by mass
    assert np.allclose(sim.density_per_s, exact, rtol=0.15), (sim.density_per_s / exact).tolist()
    ratio = np.average(sim.density_per_s / exact, weights=sim.mass)
    assert ratio == pytest.approx(1.0, abs=0.05), ratio
    analytic = bars[bars.source == "analytic"]
    assert analytic.mass.sum() == pytest.approx(0.9999 - 0.01)  # the grid's ends
    fig = histogram_figure(frame, "ms", 1000.0)
    kinds = sorted((t.type, t.name) for t in fig.data)
    assert kinds == [("bar", "web (simulated)"), ("scatter", "web (analytic)")]
    assert fig.layout.yaxis.title.text == "density (per ms)"


def test_each_class_has_the_law_of_its_own_route():
    """Class a visits app (M/M/1, mu 100/s, both classes: lambda 40/s); class b then db
    (mu 50/s, lambda 20/s). In a Jackson tandem a job's sojourns are independent
    exponentials (Reich), so b's response is Exp(60) + Exp(30): its CDF is
    1 - 2 e^{-30 t} + e^{-60 t}, checked at b's analytic quantiles."""
    m = qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": "10ms", "class_next": {"b": {"db": 1.0}}},
                  "db": {"kind": "queue", "service": "20ms"}},
        "arrivals": {"a": {"to": "app", "rate": "20/s"}, "b": {"to": "app", "rate": "20/s"}}})
    res = qmodel.solve(m)
    frame = response_cdf({"analytic": res}, [0.1, 0.5, 0.95, 0.99])
    a, b = (frame[frame["class"] == name] for name in ("a", "b"))
    assert np.allclose(1 - np.exp(-60 * a.time_s), a.p, atol=1e-9)
    assert np.allclose(1 - 2 * np.exp(-30 * b.time_s) + np.exp(-60 * b.time_s), b.p, atol=1e-9)
    assert res.classes["b"].percentile(0.95).method == res.system.percentile(0.95).method
