"""External validation: every (observation, model) result is asserted, and the doc is current.

Tolerances live in pkdose/data/observations.toml and were fixed before the predictions were
compared. A pair that misses its tolerance is not loosened: it is an expected failure
(``xfail(strict=True)``) with its reason written here and, as ``known_discrepancy``, in the
TOML (which docs/validation.md shows). Strict, so a model change that makes it pass fails the
test until the expectation is updated.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pkdose.cli import main
from pkdose.errors import PkdoseError
from pkdose.model import get_model
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import prepare
from pkdose.validation import (
    QUANTITIES,
    Tolerance,
    auc_inf_ng_h_ml,
    load_observations,
    observation_from_dict,
    reference_summary,
    reference_validation,
    tolerance_bounds,
    validation_table,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED_JSON = ROOT.parent / "shared" / "data" / "pk_observations.json"

PASS = "pass"
NOT_COMPUTABLE = "not computable"

_MO_CLF = ("Mo 2025 CL/F 7.11 L/h (healthy Korean men) is 2.5-3 times below Western values; "
           "shipped as published, not rescaled")
_TERHEINE_THALF = ("ter Heine 2018 was fitted to sampling windows of at most 24 h; its "
                   "terminal (plasma beta) half-life of ~20 h is shorter than NCA half-lives "
                   "from single-dose studies (known discrepancy, model file notes)")

#: Expected result per (observation id, model): PASS, NOT_COMPUTABLE, or the reason for a
#: known discrepancy (an expected failure).
EXPECTED: dict[tuple[str, str], str] = {
    # sirolimus, default wu2012
    ("brattstrom2000-thalf", "wu2012"): (
        "Wu 2012's terminal half-life (~50 h) is well below the 82 +/- 12 h measured in "
        "healthy young men (Brattstrom 2000); known discrepancy, model used as published"),
    ("brattstrom2000-clf", "wu2012"): PASS,
    ("brattstrom2000-vssf", "wu2012"): PASS,
    ("zimmerman1999-thalf", "wu2012"): PASS,
    # sirolimus, alternative golubovic2019
    ("brattstrom2000-thalf", "golubovic2019"): (
        "Golubovic 2019 was fitted to troughs only; its small Q/F gives a terminal half-life "
        "of several days"),
    ("brattstrom2000-clf", "golubovic2019"): PASS,
    ("brattstrom2000-vssf", "golubovic2019"): PASS,
    ("zimmerman1999-thalf", "golubovic2019"): (
        "Golubovic 2019 was fitted to troughs only; its small Q/F gives a terminal half-life "
        "of several days"),
    # sirolimus, alternative pkdose2026 (fitted to healthy single-dose profiles that include
    # Brattstrom 2000's, so the Brattstrom rows are partly in-sample for it)
    ("brattstrom2000-thalf", "pkdose2026"): PASS,
    ("brattstrom2000-clf", "pkdose2026"): PASS,
    ("brattstrom2000-vssf", "pkdose2026"): PASS,
    ("zimmerman1999-thalf", "pkdose2026"): PASS,
    # everolimus, default terheine2018
    ("kovarik2002-thalf", "terheine2018"): _TERHEINE_THALF,
    ("odonnell2008-thalf", "terheine2018"): _TERHEINE_THALF,
    ("swog-s0931-trough", "terheine2018"): PASS,
    ("kovarik2005keto-thalf", "terheine2018"): _TERHEINE_THALF,
    ("kovarik2005keto-cmax", "terheine2018"): PASS,
    ("kovarik2005keto-auc", "terheine2018"): PASS,
    ("kovarik2005ery-thalf", "terheine2018"): _TERHEINE_THALF + " (19.8 h vs limit 20 h)",
    ("kovarik2005ery-cmax", "terheine2018"): PASS,
    ("kovarik2005ery-auc", "terheine2018"): PASS,
    ("afinitor-label-plasma-fraction", "terheine2018"): PASS,
    # everolimus, alternative dewit2016
    ("kovarik2002-thalf", "dewit2016"): PASS,
    ("odonnell2008-thalf", "dewit2016"): (
        "de Wit 2016 has a terminal half-life of ~22 h, below O'Donnell's 26-38 h range "
        "(known discrepancy, model file notes)"),
    ("swog-s0931-trough", "dewit2016"): PASS,
    ("kovarik2005keto-thalf", "dewit2016"): PASS,
    ("kovarik2005keto-cmax", "dewit2016"): PASS,
    ("kovarik2005keto-auc", "dewit2016"): PASS,
    ("kovarik2005ery-thalf", "dewit2016"): PASS,
    ("kovarik2005ery-cmax", "dewit2016"): PASS,
    ("kovarik2005ery-auc", "dewit2016"): PASS,
    ("afinitor-label-plasma-fraction", "dewit2016"): NOT_COMPUTABLE,
    # everolimus, alternative mo2025 (healthy Korean men, single 5 mg, sampled to 144 h):
    # its terminal phase is measured, its CL/F is 2.5-3 times below Western values
    ("kovarik2002-thalf", "mo2025"): PASS,
    ("odonnell2008-thalf", "mo2025"): PASS,
    ("swog-s0931-trough", "mo2025"): _MO_CLF,
    ("kovarik2005keto-thalf", "mo2025"): PASS,
    ("kovarik2005keto-cmax", "mo2025"): _MO_CLF,
    ("kovarik2005keto-auc", "mo2025"): _MO_CLF,
    ("kovarik2005ery-thalf", "mo2025"): PASS,
    ("kovarik2005ery-cmax", "mo2025"): _MO_CLF,
    ("kovarik2005ery-auc", "mo2025"): _MO_CLF,
    ("afinitor-label-plasma-fraction", "mo2025"): NOT_COMPUTABLE,
}


@pytest.fixture(scope="module")
def table():
    return validation_table()


def _row(table, oid, model):
    hit = table[(table["id"] == oid) & (table["model"] == model)]
    assert len(hit) == 1, f"no single table row for {oid} / {model}"
    return hit.iloc[0]


def _cases():
    for (oid, model), want in EXPECTED.items():
        marks = ()
        if want not in (PASS, NOT_COMPUTABLE):
            marks = (pytest.mark.xfail(strict=True, reason=want),)
        yield pytest.param(oid, model, want, id=f"{oid}-{model}", marks=marks)


@pytest.mark.parametrize(("oid", "model", "want"), list(_cases()))
def test_observation(table, oid, model, want):
    row = _row(table, oid, model)
    if want == NOT_COMPUTABLE:
        assert pd.isna(row["passed"])
        assert math.isnan(row["predicted"])
        return
    assert bool(row["passed"]), (
        f"{model} predicts {row['predicted']:.4g} {row['unit']} for {oid}; pass interval "
        f"{row['low']:.4g}-{row['high']:.4g} (observed {row['observed']:.4g})")


def test_every_table_row_has_an_expectation(table):
    got = set(zip(table["id"], table["model"], strict=True))
    assert got == set(EXPECTED)


def test_expected_failures_are_documented_in_the_data(table):
    # The doc's known-discrepancy list comes from the TOML: it must name exactly the pairs
    # this test expects to fail, so test and doc cannot drift apart.
    documented = {(r.id, r.model) for r in table.itertuples() if r.expected_failure}
    expected_fail = {k for k, v in EXPECTED.items() if v not in (PASS, NOT_COMPUTABLE)}
    assert documented == expected_fail


def test_default_models_come_first_and_are_flagged(table):
    for _, g in table.groupby("id", sort=False):
        assert bool(g["default"].iloc[0])
        assert int(g["default"].sum()) == 1


def test_observations_load_and_explain_themselves():
    obs = load_observations()
    assert len({o.id for o in obs}) == len(obs)
    for o in obs:
        assert parse_regimen(o.regimen).drug == o.drug
        assert o.source and o.source_short
        if o.comparable:
            assert o.tolerance is not None and o.tolerance.reason
            assert o.metric in QUANTITIES
        else:
            assert o.reason


@pytest.mark.skipif(not SHARED_JSON.exists(), reason="shared/data/pk_observations.json absent")
def test_every_curated_row_is_listed():
    data = json.loads(SHARED_JSON.read_text(encoding="utf-8"))
    by_origin = {o.origin: o for o in load_observations()}
    for i, row in enumerate(data, start=1):
        o = by_origin.get(f"json:{i}")
        assert o is not None, f"JSON row {i} ({row['metric']}, {row['source'][:40]}) missing"
        assert o.drug == row["drug"]
        value = row["value"]
        central = sum(value) / len(value) if isinstance(value, list) else value
        assert o.value == pytest.approx(central)
        assert o.unit == row["unit"]
        assert o.source == row["source"]


@pytest.mark.parametrize("name", ["wu2012", "dewit2016", "golubovic2019"])
def test_numeric_auc_inf_matches_dose_over_clearance(name):
    # Whole-blood linear disposition with complete absorption: AUC0-inf = F * dose / CL
    # exactly, which checks the numerical integration and its tail.
    model = get_model(name)
    prep = prepare(model)
    reg = parse_regimen(f"{model.drug} 5 mg once")
    auc = auc_inf_ng_h_ml(prep, reg)[0]
    exact = 1000.0 * prep.params["f"][0] * 5.0 / prep.params["cl"][0]
    assert auc == pytest.approx(exact, rel=1e-4)


def test_clearance_per_kg_uses_the_subject_weight(table):
    # Brattstrom: Wu 2012 CL/F at HCT 44 %, in mL/h/kg for the 70 kg typical subject.
    row = _row(table, "brattstrom2000-clf", "wu2012")
    assert row["predicted"] == pytest.approx(12.9 * (35.1 / 44.0) ** 0.14 * 1000.0 / 70.0,
                                             rel=1e-4)


def test_tolerance_rules():
    assert tolerance_bounds(82.0, Tolerance("sd", {"sd": 12.0, "k": 2.0})) == (58.0, 106.0)
    assert tolerance_bounds(10.0, Tolerance("sd", {"sd": 8.0, "k": 2.0}))[0] == 0.0
    assert tolerance_bounds(30.0, Tolerance("range", {"low": 26.0, "high": 38.0})) == (26, 38)
    assert tolerance_bounds(12.9, Tolerance("iqr", {"low": 9.0, "high": 22.8})) == (9.0, 22.8)
    low, high = tolerance_bounds(30.0, Tolerance("factor", {"factor": 1.5}))
    assert (low, high) == pytest.approx((20.0, 45.0))
    low, high = tolerance_bounds(10.0, Tolerance("cv", {"cv_pct": 30.0, "k": 2.0}))
    assert low * high == pytest.approx(100.0)
    assert high == pytest.approx(10.0 * math.exp(2.0 * math.sqrt(math.log(1.09))))


def test_comparable_row_without_tolerance_is_rejected():
    raw = {"id": "x", "origin": "test", "drug": "sirolimus", "regimen": "sirolimus 1 mg once",
           "regimen_reported": "", "population": "", "metric_reported": "t1/2",
           "metric": "terminal_half_life", "value": 60.0, "unit": "h", "central": "mean",
           "spread": "", "comparable": True, "source": "s", "source_short": "s"}
    with pytest.raises(PkdoseError, match="tolerance"):
        observation_from_dict(raw)
    with pytest.raises(PkdoseError, match="unit"):
        observation_from_dict({**raw, "unit": "min"})


def test_doc_is_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_validation_doc.py"),
                           "--check"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- reference library


@pytest.fixture(scope="module")
def reference():
    return reference_validation()


def test_reference_comparison_covers_the_library_with_finite_ratios(reference):
    from pkdose import references

    assert len(reference) == len(references.observed())
    compared = reference[reference["skipped"] == ""]
    assert len(compared) == 10  # every observed value in regimens/*.toml today
    assert np.isfinite(compared["ratio"].astype(float)).all()
    assert (compared["predicted"] > 0).all()
    assert compared["ratio"].to_numpy() == pytest.approx(
        (compared["predicted"] / compared["observed"]).to_numpy())
    assert set(compared["model"]) == {"wu2012", "terheine2018"}  # default models only
    assert all(compared["notes"].str.len() > 0)
    swog = compared[compared["source"].str.contains("S0931")]
    assert len(swog) == 3 and swog["notes"].str.contains("dose-normalised").all()
    csa = compared[compared["comedication"] == "ciclosporin"]
    assert len(csa) == 4 and csa["notes"].str.contains("interaction layer").all()


#: Level measured when the reference comparison was added (default models as published,
#: typical subject). A regression must fail CI: the fraction within +/-30 % may not drop,
#: and the median |ratio - 1| may not rise by more than 0.02. Raise these numbers when a
#: justified change (new data, a better-cited model) improves them; never lower them to
#: make a change pass.
REFERENCE_LEVEL = {
    # drug: (fraction within +/-30 %, median |ratio - 1|)
    "everolimus": (0.285, 0.46),  # 2/7 within; median error 0.462
    "sirolimus": (0.0, 1.36),  # 0/3 within; median error 1.363
}


@pytest.mark.parametrize("drug", sorted(REFERENCE_LEVEL))
def test_reference_summary_does_not_regress(reference, drug):
    summ = reference_summary(reference).set_index("drug")
    frac, err = REFERENCE_LEVEL[drug]
    assert summ.loc[drug, "fraction_within_30pct"] >= frac
    assert summ.loc[drug, "median_abs_ratio_error"] <= err + 0.02


def test_reference_summary_lists_the_largest_disagreements(reference):
    top = reference_summary(reference).attrs["largest_disagreements"]
    assert len(top) == 3
    assert list(top["abs_log_ratio"]) == sorted(top["abs_log_ratio"], reverse=True)
    assert top["abs_log_ratio"].iloc[-1] >= np.abs(
        np.log(reference["ratio"].astype(float))).nlargest(3).iloc[-1] - 1e-12
    assert all(top["notes"].str.len() > 0)


def test_cli_validate_check_passes_on_the_committed_doc():
    res = CliRunner().invoke(main, ["validate", "--check"], catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    assert "everolimus:" in res.stdout and "sirolimus:" in res.stdout


def test_cli_validate_check_fails_on_a_stale_page(tmp_path):
    stale = tmp_path / "validation.md"
    stale.write_text("old\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["validate", "--check", "--out", str(stale)])
    assert res.exit_code == 2
    assert "stale" in res.stderr and res.stderr.strip().splitlines()[-1].startswith("pkdose:")
    res = CliRunner().invoke(main, ["validate", "--out", str(stale)])
    assert res.exit_code == 0
    assert stale.read_text(encoding="utf-8").startswith("# Validation")


def test_cli_validate_help_has_an_example():
    res = CliRunner().invoke(main, ["validate", "--help"])
    assert res.exit_code == 0 and "Example" in res.output and "pkdose validate" in res.output
