"""Distribution specs: every form that parses, and every bad spec with its exact field path
and message — both from ``parse`` (relative to the spec) and inside a model file."""

from __future__ import annotations

import pytest

from qmodel import Model, ModelError
from qmodel.distributions import (
    Deterministic,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Pareto,
    Uniform,
)
from qmodel.errors import FieldError, QModelError
from qmodel.model.dist_spec import parse


@pytest.mark.parametrize(("spec", "expected"), [
    ("20ms", Exponential(0.02)),
    (3, Exponential(3.0)),
    ({"mean": "10ms"}, Exponential(0.01)),
    ({"mean": "10ms", "cv": 0}, Deterministic(0.01)),
    ({"dist": "exponential", "rate": "50/s"}, Exponential(0.02)),
    ({"dist": "deterministic", "value": 0}, Deterministic(0.0)),
    ({"dist": "deterministic", "mean": "1s"}, Deterministic(1.0)),
    ({"dist": "erlang", "k": 4, "mean": "2s"}, Erlang(4, 2.0)),
    ({"dist": "hyperexponential", "probs": [0.5, 0.5], "means": ["1s", "3s"]},
     HyperExponential((0.5, 0.5), (1.0, 3.0))),
    ({"dist": "lognormal", "mean": "1s", "cv": 2}, Lognormal(1.0, 2.0)),
    ({"dist": "gamma", "mean": "1s", "cv": 0.5}, Gamma(1.0, 0.5)),
    ({"dist": "uniform", "low": "1s", "high": "3s"}, Uniform(1.0, 3.0)),
    ({"dist": "pareto", "alpha": 3, "scale": "1s"}, Pareto(3.0, 1.0)),
    ({"dist": "pareto", "alpha": 3, "mean": "1.5s"}, Pareto(3.0, 1.0)),
    ({"dist": "empirical", "samples": ["1s", 2]}, Empirical((1.0, 2.0))),
])
def test_every_form_parses(spec, expected):
    assert parse(spec) == expected


def test_bare_numbers_are_in_the_time_unit_and_a_rate_gives_the_mean():
    assert parse(20, "ms") == Exponential(0.02)
    assert parse({"dist": "erlang", "k": 2}, mean=0.5) == Erlang(2, 0.5)
    assert parse(None, mean=0.5) == Exponential(0.5)


def test_empirical_samples_from_a_csv_file(tmp_path):
    (tmp_path / "t.csv").write_text("latency\n10ms\n30ms\n\n20ms\n")
    assert parse({"dist": "empirical", "file": "t.csv", "column": "latency"},
                 base_dir=tmp_path) == Empirical((0.01, 0.03, 0.02))
    assert parse({"dist": "empirical", "file": "t.csv"}, base_dir=tmp_path).mean == \
        pytest.approx(0.02)


BAD = [
    ("-5ms", "", "must be a positive duration, got '-5ms'"),
    ("soon", "", "must be a duration such as 20ms or 1.5s, got 'soon' or a mapping with 'dist'"),
    ({"dist": "weibull"}, "dist", "must be one of exponential, deterministic, erlang, "
                                  "hyperexponential, lognormal, gamma, uniform, pareto, "
                                  "empirical, got 'weibull'"),
    ({"dist": "erlang", "k": 2, "mean": "1s", "cv": 1}, "cv",
     "unknown key for erlang distribution; allowed: k, mean"),
    ({"mean": "1s", "k": 2}, "k", "unknown key for a mean/cv distribution; allowed: cv, mean"),
    ({"cv": 2}, "mean", "is required"),
    ({"mean": 0}, "mean", "must be positive, got 0"),
    ({"mean": "1s", "cv": -1}, "cv", "must be >= 0, got -1"),
    ({"mean": "1s", "cv": "big"}, "cv", "must be a number, got 'big'"),
    ({"dist": "exponential", "rate": "5/s", "mean": "1s"}, "rate",
     "give either mean or rate, not both"),
    ({"dist": "exponential", "rate": 0}, "rate", "must be positive, got 0"),
    ({"dist": "deterministic"}, "mean", "is required"),
    ({"dist": "deterministic", "value": "-1s"}, "value", "must be non-negative, got '-1s'"),
    ({"dist": "erlang", "mean": "1s"}, "k", "is required"),
    ({"dist": "erlang", "k": 0, "mean": "1s"}, "k", "must be an integer >= 1, got 0"),
    ({"dist": "erlang", "k": 2.5, "mean": "1s"}, "k", "must be an integer >= 1, got 2.5"),
    ({"dist": "hyperexponential", "means": ["1s"]}, "probs", "is required"),
    ({"dist": "hyperexponential", "probs": [1.0], "means": []}, "means",
     "must be a non-empty list, got []"),
    ({"dist": "hyperexponential", "probs": [0.5], "means": ["1s", "2s"]}, "probs",
     "must be a list of 2 probabilities, got [0.5]"),
    ({"dist": "hyperexponential", "probs": [0.5, 0.6], "means": ["1s", "2s"]}, "probs",
     "must sum to 1, got 1.1"),
    ({"dist": "hyperexponential", "probs": [1.5, -0.5], "means": ["1s", "2s"]}, "probs",
     "must be probabilities in [0, 1], got [1.5, -0.5]"),
    ({"dist": "hyperexponential", "probs": [0.5, 0.5], "means": ["1s", "-2s"]}, "means.1",
     "must be positive, got '-2s'"),
    ({"dist": "hyperexponential", "probs": [0.95, 0.05], "means": [0, "115s"]}, "means.0",
     "must be positive, got 0"),  # an exponential phase of mean 0 (found by the fuzzer)
    ({"dist": "hyperexponential", "mean": "1s", "cv": 0.5}, "cv",
     "must be >= 1 for a hyperexponential, got 0.5"),
    ({"dist": "lognormal", "mean": "1s", "cv": 0}, "cv", "must be > 0, got 0"),
    ({"dist": "gamma", "mean": "1s", "cv": 0}, "cv", "must be > 0, got 0"),
    ({"dist": "uniform", "low": "1s"}, "high", "is required"),
    ({"dist": "uniform", "low": "2s", "high": "1s"}, "high", "must be greater than low, got '1s'"),
    ({"dist": "pareto", "alpha": 1, "scale": "1s"}, "alpha", "must be > 1, got 1"),
    ({"dist": "pareto", "alpha": 3}, "mean", "give exactly one of mean or scale"),
    ({"dist": "empirical"}, "samples", "give exactly one of samples (a list) or file (a CSV path)"),
    ({"dist": "empirical", "samples": [0, 0]}, "samples", "must contain a positive value"),
    ({"dist": "empirical", "samples": [1, "x"]}, "samples.1",
     "must be a duration such as 20ms or 1.5s, got 'x'"),
    ({"dist": "empirical", "file": 3}, "file", "must be a path to a CSV file, got 3"),
]


@pytest.mark.parametrize(("spec", "field", "message"), BAD)
def test_every_bad_spec_names_its_field(spec, field, message):
    with pytest.raises(FieldError) as info:
        parse(spec)
    assert (info.value.field, info.value.message) == (field, message)
    assert isinstance(info.value, QModelError)


@pytest.mark.parametrize(("spec", "field", "message"), BAD)
def test_inside_a_model_the_path_leads_to_the_field(spec, field, message):
    data = {"nodes": {"app": {"kind": "queue", "service": spec}},
            "arrivals": {"web": {"to": "app", "rate": "1/s"}}}
    with pytest.raises(ModelError) as info:
        Model.from_dict(data)
    path = "nodes.app.service" + (f".{field}" if field else "")
    assert [str(p) for p in info.value.problems] == [f"{path}: {message}"]


@pytest.mark.parametrize(("shape", "expected"), [
    ({"cv": 2, "mean": "1s"}, "arrivals.web.interarrival.mean: not allowed here: the mean "
                              "comes from the rate"),
    ({"dist": "uniform"}, "arrivals.web.interarrival.low: is required"),
    ("erlang", "arrivals.web.interarrival: must be a mapping giving the shape, e.g. "
               "{dist: erlang, k: 2} or {cv: 2}, got 'erlang'"),
])
def test_an_interarrival_shape_takes_its_mean_from_the_rate(shape, expected):
    data = {"nodes": {"app": {"kind": "queue", "service": "1ms"}},
            "arrivals": {"web": {"to": "app", "rate": "4/s", "interarrival": shape}}}
    with pytest.raises(ModelError) as info:
        Model.from_dict(data)
    assert [str(p) for p in info.value.problems] == [expected]


def test_an_interarrival_shape_is_parsed_once_with_mean_one_over_rate():
    model = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "1ms"}},
                             "arrivals": {"web": {"to": "app", "rate": "4/s",
                                                  "interarrival": {"dist": "erlang", "k": 2}}}})
    assert model.spec.arrivals["web"].interarrival == Erlang(2, 0.25)
    assert model.network.classes[0].interarrival is model.spec.arrivals["web"].interarrival
