"""The library API: regimens in, concentration curves out, for one subject or many."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pkdose.errors import ExtrapolationWarning, PkdoseError
from pkdose.model import covariate_table, get_model
from pkdose.regimen import compile_trains
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import (
    concentrations,
    default_until_h,
    prepare,
    simulate,
    steady_state_concentrations,
)


def test_simulate_returns_time_and_whole_blood_concentration():
    df = simulate("rapamycin 1 mg daily", until_h=48, step_h=0.5)
    assert list(df.columns) == ["time_h", "conc_ng_ml"]
    assert df["time_h"].iloc[-1] == 48 and len(df) == 97
    assert df["conc_ng_ml"].iloc[0] == 0 and (df["conc_ng_ml"] >= 0).all()


def test_several_subjects_give_one_curve_each_with_an_id():
    subjects = pd.DataFrame({"weight_kg": [50, 70, 100], "height_cm": [160, 175, 190]})
    df = simulate("everolimus 10 mg daily", model="dewit2016", subjects=subjects, until_h=24)
    assert sorted(df["id"].unique()) == [1, 2, 3]
    peak = df.groupby("id")["conc_ng_ml"].max()
    assert peak[1] > peak[2] > peak[3]  # larger people: larger V1/F, lower peaks


def test_mg_per_kg_doses_scale_with_weight_in_a_linear_model():
    light = simulate("everolimus 0.1 mg/kg daily", model="dewit2016",
                     subjects={"weight_kg": 60}, until_h=24)
    fixed = simulate("everolimus 6 mg daily", model="dewit2016", subjects={"weight_kg": 60},
                     until_h=24)
    np.testing.assert_allclose(light["conc_ng_ml"], fixed["conc_ng_ml"], rtol=1e-12)


def test_mg_per_m2_doses_use_mosteller_body_surface_area():
    # 180 cm, 80 kg: BSA = sqrt(180 * 80 / 3600) = 2 m2, so 3 mg/m2 = 6 mg.
    subj = {"weight_kg": 80, "height_cm": 180}
    a = simulate("everolimus 3 mg/m2 daily", subjects=subj, until_h=24)
    b = simulate("everolimus 6 mg daily", subjects=subj, until_h=24)
    np.testing.assert_allclose(a["conc_ng_ml"], b["conc_ng_ml"], rtol=1e-12)


def test_explicit_output_times_in_any_order():
    times = [30.0, 1.0, 200.0, 12.5]
    df = simulate("sirolimus 6 mg weekly", times_h=times)
    grid = simulate("sirolimus 6 mg weekly", times_h=sorted(times))
    assert df["time_h"].tolist() == times
    got = dict(zip(df["time_h"], df["conc_ng_ml"], strict=True))
    want = dict(zip(grid["time_h"], grid["conc_ng_ml"], strict=True))
    for t in times:
        assert got[t] == pytest.approx(want[t], rel=1e-12)


@pytest.mark.parametrize("model", ["wu2012", "golubovic2019", "terheine2018", "dewit2016",
                                   "mo2025", "pkdose2026"])
@pytest.mark.parametrize("text", [
    "{drug} 1 mg daily",
    "{drug} 6 mg weekly",
    "{drug} 2 mg daily 5 days on 9 days off",
    "{drug} 5 mg every Monday and Thursday",
    "{drug} 6 mg weekly, 2 weeks on 2 weeks off",
    "{drug} 0.75 mg twice daily",
])
def test_steady_state_equals_the_curve_after_many_cycles(model, text):
    m = get_model(model)
    reg = parse_regimen(text.format(drug=m.drug))
    prep = prepare(m)
    period = reg.steady_state_period_h()
    t = np.linspace(0, period, 97)
    ss = steady_state_concentrations(prep, reg, t)["conc_ng_ml"][0]
    # Golubovic's ~6-day terminal half-life needs ~25 weeks to settle to 1e-9.
    n_cycles = int(np.ceil(24 * 7 * 40 / period))
    late = concentrations(prep, reg.trains(), n_cycles * period + t)["conc_ng_ml"][0]
    np.testing.assert_allclose(ss, late, rtol=1e-6)


def test_red_cell_binding_makes_whole_blood_higher_than_plasma_and_saturates():
    with pytest.warns(ExtrapolationWarning, match="0.75-10 mg range"):
        df = simulate("everolimus 70 mg weekly", until_h=168, step_h=0.25)
    low = df[df["time_h"] == 168].iloc[0]
    peak = df.loc[df["conc_ng_ml"].idxmax()]
    # At low concentration the blood:plasma ratio is HCT (Bmax/Kd + Kns) + 1 - HCT.
    hct = 0.44
    assert low["conc_ng_ml"] / low["plasma_ng_ml"] == pytest.approx(
        hct * (964 / 92 + 0.153) + 1 - hct, rel=1e-3)
    assert peak["conc_ng_ml"] / peak["plasma_ng_ml"] < 0.75 * low["conc_ng_ml"] / low[
        "plasma_ng_ml"]


@pytest.mark.parametrize("text,model,subject,cmin,cmax,tol", [
    # Values the literature digest derived from the published parameters (pk-literature.md);
    # they check the implementation, not the model. Tolerance 3 %.
    ("sirolimus 1 mg daily", "wu2012", {"hct_pct": 35.1}, 2.05, 6.15, 0.03),
    ("sirolimus 2 mg daily", "wu2012", {"hct_pct": 35.1}, 4.15, None, 0.03),
    ("everolimus 10 mg daily", "terheine2018", {"hct_pct": 42}, 11.5, 77.0, 0.03),
    ("everolimus 0.5 mg daily", "terheine2018", {"hct_pct": 42}, 0.59, 4.5, 0.03),
    ("everolimus 10 mg daily", "dewit2016", {}, 12.9, 74.0, 0.03),
    ("everolimus 0.5 mg daily", "dewit2016", {}, 0.65, 3.7, 0.03),
])
def test_steady_state_matches_values_derived_from_the_published_parameters(
        text, model, subject, cmin, cmax, tol):
    prep = prepare(get_model(model), subject)
    reg = parse_regimen(text)
    t = np.linspace(0, 24, 2401)
    c = steady_state_concentrations(prep, reg, t)["conc_ng_ml"][0]
    assert c.min() == pytest.approx(cmin, rel=tol)
    if cmax is not None:
        assert c.max() == pytest.approx(cmax, rel=tol)


def test_default_horizon_covers_the_regimen():
    assert default_until_h(parse_regimen("sirolimus 1 mg daily")) == 4 * 168
    assert default_until_h(parse_regimen("everolimus 5 mg weekly for 6 weeks")) == 7 * 168


def test_doses_outside_the_fitted_range_warn_and_still_simulate():
    with pytest.warns(ExtrapolationWarning, match="outside the 1-60 mg range"):
        df = simulate("sirolimus 90 mg weekly", until_h=24)
    assert df["conc_ng_ml"].max() > 0


def test_typical_subject_inside_every_source_population_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        for model, text in (("wu2012", "sirolimus 2 mg daily"),
                            ("golubovic2019", "sirolimus 2 mg daily"),
                            ("terheine2018", "everolimus 5 mg daily"),
                            ("dewit2016", "everolimus 5 mg daily")):
            simulate(text, model=model, until_h=24)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"until_h": -1}, "must be after"),
    ({"step_h": 0}, "must be positive"),
    ({"times_h": [1.0, float("nan")]}, "finite"),
    ({"model": "terheine2018"}, "is for everolimus"),
    ({"params": {"cl": -1}}, "must be a positive number"),
])
def test_invalid_requests_raise_pkdose_error(kwargs, fragment):
    with pytest.raises(PkdoseError, match=fragment):
        simulate("sirolimus 1 mg daily", **kwargs)


def test_steady_state_of_a_regimen_that_stops_is_refused():
    prep = prepare(get_model("wu2012"))
    with pytest.raises(PkdoseError, match="no steady state"):
        steady_state_concentrations(prep, parse_regimen("sirolimus 1 mg daily x 10"), [0.0])


@pytest.mark.parametrize("model", ["wu2012", "terheine2018", "dewit2016", "golubovic2019",
                                   "mo2025", "pkdose2026"])
def test_a_subjects_curve_depends_neither_on_the_others_nor_on_the_memory_budget(model):
    from pkdose.simulation import set_memory_budget

    m = get_model(model)
    rng = np.random.default_rng(5)
    n = 7
    eta = rng.normal(0.0, 0.4, size=(n, len(m.iiv.parameters)))
    occ = rng.normal(0.0, 0.4, size=(n, len(m.iov.parameters))) if m.iov.parameters else None
    prep = prepare(m, pd.DataFrame({"weight_kg": np.linspace(50, 110, n)}), eta, occ)
    trains = parse_regimen(f"{m.drug} 3 mg daily").trains()
    t = np.arange(0.0, 24 * 9, 0.5)
    whole = concentrations(prep, trains, t)
    previous = set_memory_budget(1)  # one subject per block
    try:
        blocks = concentrations(prep, trains, t)
    finally:
        set_memory_budget(previous)
    for key, arr in whole.items():
        np.testing.assert_array_equal(blocks[key], arr)
        for i in (0, 3, 6):
            alone = concentrations(prep.rows(i, i + 1), trains, t)[key]
            np.testing.assert_array_equal(alone[0], arr[i])


def test_memory_budget_must_be_a_positive_number_of_bytes():
    from pkdose.simulation import set_memory_budget

    with pytest.raises(PkdoseError, match="positive number of bytes"):
        set_memory_budget(0)


def test_a_model_fitted_in_men_only_warns_for_women():
    with pytest.warns(ExtrapolationWarning, match="mo2025 source population had no women"):
        simulate("everolimus 5 mg once", model="mo2025", subjects={"sex": "female"},
                 until_h=24)


@pytest.mark.parametrize("model, regimen", [("golubovic2019", "sirolimus 1 mg daily"),
                                            ("terheine2018", "everolimus 5 mg weekly")])
def test_concentrations_into_given_arrays_are_bitwise_the_fresh_ones(model, regimen):
    m = get_model(model)
    rng = np.random.default_rng(3)
    prep = prepare(m, covariate_table({}, n=20), rng.normal(0.0, 0.3, (20, len(m.iiv.parameters))))
    trains, t = compile_trains(parse_regimen(regimen)), np.arange(0.0, 400.0, 0.5)
    fresh = concentrations(prep, trains, t)
    # Reused arrays hold the last result: every value must be overwritten.
    given = {k: np.full_like(v, np.nan) for k, v in fresh.items()}
    got = concentrations(prep, trains, t, out=given)
    assert set(got) == set(fresh)
    for k in fresh:
        assert got[k] is given[k]
        np.testing.assert_array_equal(got[k], fresh[k])


@pytest.mark.parametrize("out, fragment", [
    ({"plasma_ng_ml": np.zeros((20, 10))}, "out must map conc_ng_ml"),
    ({"conc_ng_ml": np.zeros((20, 11))}, "shape \\(20, 10\\)"),
    ({"conc_ng_ml": np.zeros((20, 10), np.float32)}, "float64"),
    ({"conc_ng_ml": np.zeros((10, 20)).T}, "C-ordered"),
    ([np.zeros((20, 10))], "out must map"),
])
def test_bad_output_arrays_are_one_clear_error(out, fragment):
    m = get_model("golubovic2019")
    prep = prepare(m, covariate_table({}, n=20), np.zeros((20, len(m.iiv.parameters))))
    with pytest.raises(PkdoseError, match=fragment) as err:
        concentrations(prep, compile_trains(parse_regimen("sirolimus 1 mg daily")),
                       np.arange(10.0), out=out)
    assert err.value.options == ("out",)


def test_given_output_arrays_are_refused_for_a_parent_metabolite_model():
    m = get_model("torisel2007")
    prep = prepare(m, covariate_table({}, n=2), np.zeros((2, len(m.iiv.parameters))))
    trains = compile_trains(parse_regimen("temsirolimus 25 mg iv weekly"))
    with pytest.raises(PkdoseError, match="not available for parent-metabolite") as err:
        concentrations(prep, trains, np.arange(10.0), out={"conc_ng_ml": np.zeros((2, 10))})
    assert err.value.options == ("out",)
