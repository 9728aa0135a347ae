"""One target grammar (``pkdose.targets``) for population, design, individual and the API."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pkdose.errors import PkdoseError
from pkdose.targets import parse_target


@pytest.mark.parametrize("text, column, op, low, high, quantile", [
    ("trough 5-10", "ctrough_ng_ml", "range", 5.0, 10.0, None),
    ("trough<3", "ctrough_ng_ml", "<", -math.inf, 3.0, None),
    (" TROUGH <= 3.5 ", "ctrough_ng_ml", "<=", -math.inf, 3.5, None),
    ("median Cavg>=2", "cavg_ng_ml", ">=", 2.0, math.inf, 0.5),
    ("median Cavg=2", "cavg_ng_ml", "=", 2.0, 2.0, 0.5),
    ("P10 trough = 3", "ctrough_ng_ml", "=", 3.0, 3.0, 0.1),
    ("AUC168 400", "auc168_ng_h_ml", "point", 320.0, 500.0, None),
    ("AUC168>300", "auc168_ng_h_ml", ">", 300.0, math.inf, None),
    ("mTORC1>=50%", "mtorc1_mean", ">=", 0.5, math.inf, None),
    ("mtorc2>=0.8", "mtorc2_mean", ">=", 0.8, math.inf, None),
    ("Tabove 3<40", "t_above_3_h_per_week", "<", -math.inf, 40.0, None),
    ("cavg_ng_ml 2-3", "cavg_ng_ml", "range", 2.0, 3.0, None),
])
def test_every_form_of_the_grammar_reads(text, column, op, low, high, quantile):
    t = parse_target(text)
    assert (t.column, t.op, t.quantile) == (column, op, quantile)
    assert (t.low, t.high) == (pytest.approx(low), pytest.approx(high))


def test_verdict_targets_and_what_meets_them():
    t = parse_target("mTORC2 spared")
    assert (t.column, t.op, t.label) == ("mtorc2_verdict", "label", "spared")
    verdicts = np.array(["spared", "equivocal", "spared"], dtype=object)
    assert t.met({"mtorc2_verdict": verdicts}).tolist() == [True, False, True]
    x = {"ctrough_ng_ml": np.array([2.9, 3.0, 3.1])}
    assert parse_target("trough<3").met(x).tolist() == [True, False, False]
    assert parse_target("trough<=3").met(x).tolist() == [True, True, False]
    assert parse_target("trough 3-5").met(x).tolist() == [False, True, True]


@pytest.mark.parametrize("bad", ["trough=3", "trough<", "height>3", "mtorc2>80", "3<trough",
                                 "", "trough 10-5", "cavg<-1", "mTORC2 verdict<3",
                                 "Cavg>5%", "p0 cavg=2", "p100 cavg=2", "trough<inf"])
def test_bad_targets_are_one_line_errors(bad):
    with pytest.raises(PkdoseError) as exc:
        parse_target(bad)
    assert "\n" not in str(exc.value)


def test_a_population_summary_refuses_a_value_to_reach():
    import pandas as pd

    from pkdose.population import summarise

    metrics = pd.DataFrame({"regimen": ["a"] * 3, "cavg_ng_ml": [1.0, 2.0, 3.0]})
    with pytest.raises(PkdoseError, match="median Cavg>=2"):
        summarise(metrics, ["median Cavg=2"])
