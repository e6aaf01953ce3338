"""The Solve page's 95% intervals from a model's ``calibration:`` section are
:func:`qmodel.experiments.uncertainty.uncertainty`'s with the same samples and seed; a
model without one shows nothing new."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import qmodel
from qmodel.calibrate import from_metrics
from qmodel.calibrate.modelfile import model_text
from qmodel.experiments.uncertainty import uncertainty
from qmodel.units import TIME_UNITS
from qmodel_ui.state import CUSTOM, Scenario
from qmodel_ui.views import UNCERTAINTY_SAMPLES, UNCERTAINTY_SEED

from .conftest import ROOT
from .test_pages import healthy, open_page, settle

DATA = ROOT / "tests" / "calibrate" / "data"


def test_a_calibrated_model_shows_the_intervals_of_uncertainty(app: AppTest) -> None:
    text = model_text(from_metrics(DATA / "metrics.csv", DATA / "shop.yaml"))
    app.session_state["custom_yaml"] = text
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = open_page(app, "solve")
    at = settle(at.checkbox(key="uncertainty").check().run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "95% interval" in d.value.columns)
    direct = uncertainty(qmodel.Model.from_yaml(text), samples=UNCERTAINTY_SAMPLES,
                         seed=UNCERTAINTY_SEED).summary
    assert (UNCERTAINTY_SAMPLES, UNCERTAINTY_SEED) == (200, 0)
    scale = 1 / TIME_UNITS[qmodel.Model.from_yaml(text).network.time_unit]
    row = direct.loc["mean_response_time_s"]
    assert table.loc["mean response", "value"] == f"{row['point'] * scale:.4g}"
    assert table.loc["mean response", "95% interval"] == \
        f"[{row['low'] * scale:.4g}, {row['high'] * scale:.4g}]"
    row = direct.loc["nodes.app.utilization"]
    assert table.loc["app: utilization", "95% interval"] == \
        f"[{row['low']:.4g}, {row['high']:.4g}]"
    assert table.loc["throughput", "unit"] == "/s"
    assert not [w for w in at.warning if "unstable" in w.value]  # none of 200 saturates


def test_a_model_without_calibration_shows_nothing_new(app: AppTest) -> None:
    at = open_page(app, "solve")
    healthy(at)
    assert not [c for c in at.checkbox if c.key == "uncertainty"]
    assert not [s for s in at.subheader if "Uncertainty" in s.value]
