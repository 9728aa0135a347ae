"""Animal subjects and animal routes: diets, injections, species models.

The models here are test fixtures with round numbers, not shipped data: they exercise the
machinery (mass balance, exactness against an ODE, errors) whatever the cited species
models say.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkdose import solver
from pkdose.errors import ExtrapolationWarning, PkdoseError
from pkdose.model import get_model, model_from_dict
from pkdose.regimen import DoseTrain
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import (
    prepare,
    simulate,
    steady_state_concentrations,
)
from pkdose.species import EVEN_FEEDING, Phase, diet_trains, feeding_pattern, food_intake
from tests.conftest import ode_central

#: A fixture mouse: 2 compartments, ip as the reference route, diet and sc relative to it.
FIXTURE_MOUSE = {
    "model": {"name": "fixture-mouse", "drug": "sirolimus", "species": "mouse",
              "strain": "UM-HET3", "sex": "female", "reference_weight_kg": 0.03},
    "structure": {"absorption": "first_order", "disposition": 2,
                  "routes": ["ip", "sc", "diet"], "clearance_reference_route": "ip"},
    "parameters": {
        "cl": {"value": 0.004, "unit": "L/h"},
        "v1": {"value": 0.05, "unit": "L"},
        "q": {"value": 0.01, "unit": "L/h"},
        "v2": {"value": 0.2, "unit": "L"},
        "ka": {"value": 2.0, "unit": "1/h"},
        "ka_diet": {"value": 0.5, "unit": "1/h"},
        "f_diet": {"value": 0.25, "unit": "1"},
        "f_sc": {"value": 0.8, "unit": "1"},
    },
    "population": {"dose_mg_kg": [0.5, 10.0], "diet_ppm": [4.7, 42.0]},
}
NOCTURNAL = (Phase(0.0, 12.0, 0.25), Phase(12.0, 12.0, 0.75))
FOOD = {"intake": [{"species": "mouse", "default": True,
                    "derived": {"food_g_per_g_bw_day": 0.16}},
                   {"species": "mouse", "strain": "UM-HET3", "sex": "male", "food_g_day": 5.0},
                   {"species": "mouse", "quantity": "food_spilled_fraction", "value": 0.18}],
        "feeding_pattern": {"mouse": {"dark_fraction_default": 0.75, "dark_phase_h": 12.0}}}


@pytest.fixture
def mouse():
    return model_from_dict(FIXTURE_MOUSE)


def test_diet_mass_balance_auc_is_f_times_mg_eaten_over_cl(mouse):
    # 30 days of 14 ppm at 4 g food/day: 14 mg/kg x 0.004 kg/day x 30 = 1.68 mg eaten.
    t = np.linspace(0, 24 * 120, 24 * 120 * 4 + 1)
    conc = simulate("rapamycin 14 ppm diet for 30 days", model=mouse,
                    subjects={"food_g_day": 4.0}, times_h=t)["conc_ng_ml"].to_numpy()
    eaten_mg = 14 * 4.0 / 1000 * 30
    absorbed_mg = np.trapezoid(conc, t) / 1000 * mouse.typical("cl")  # AUC x CL
    assert absorbed_mg == pytest.approx(0.25 * eaten_mg, rel=1e-4)


def test_diet_steady_state_cavg_is_the_daily_absorbed_dose_over_cl(mouse):
    prep = prepare(mouse, {"food_g_day": 4.0})
    t = np.linspace(0, 24, 2401)
    conc = steady_state_concentrations(prep, parse_regimen("rapamycin 14 ppm diet"), t)
    cavg = np.trapezoid(conc["conc_ng_ml"][0], t) / 24
    assert cavg == pytest.approx(0.25 * 14 * 4.0 / 1000 / 24 / 0.004 * 1000, rel=1e-9)


def test_feeding_phases_into_the_depot_match_an_ode(mouse, rel_err):
    prep = prepare(mouse, {"food_g_day": 4.0})
    sys, bio = prep.route_inputs("diet")
    trains = diet_trains([DoseTrain(0.0, 24.0, 5, 14.0, "ppm", "diet")], NOCTURNAL)
    t = np.linspace(0, 150, 1501)
    got = sum(solver.train_central(sys, tr, np.array([tr.amount * 4.0 / 1000]), bio,
                                   np.zeros(1), t)[0] for tr in trains)
    daily = 0.25 * 14 * 4.0 / 1000
    infusions = [(24.0 * d + ph.start_h, ph.hours, daily * ph.fraction / ph.hours, 0)
                 for d in range(5) for ph in NOCTURNAL]
    ref = ode_central(sys, [], t, infusions=infusions)
    assert rel_err(got, ref) < 1e-7


def test_diet_steady_state_is_the_limit_of_a_long_diet(mouse, monkeypatch):
    monkeypatch.setattr("pkdose.species.food_data", lambda: FOOD)
    prep = prepare(mouse)
    t = np.linspace(0, 24, 97)
    ss = steady_state_concentrations(prep, parse_regimen("rapamycin 14 ppm diet"), t)
    long = simulate("rapamycin 14 ppm diet", model=mouse, times_h=24 * 200 + t)
    np.testing.assert_allclose(long["conc_ng_ml"], ss["conc_ng_ml"][0], rtol=1e-8)
    # Nocturnal feeding: levels fall through the light phase (0-12 h) and rise in the dark.
    c = ss["conc_ng_ml"][0]
    assert c[48] < c[0] and c[96] > c[48]
    assert 24 <= c.argmin() <= 60


def test_injection_routes_use_their_own_bioavailability(mouse):
    t = np.linspace(0, 24 * 150, 24 * 150 * 4 + 1)
    auc = {r: np.trapezoid(simulate(f"rapamycin 2 mg/kg {r} once", model=mouse,
                                    times_h=t)["conc_ng_ml"], t) for r in ("ip", "sc")}
    assert auc["sc"] / auc["ip"] == pytest.approx(0.8, rel=1e-4)
    # F dose / CL; the 15-min trapezoid rule misses < 0.1 % around the ka = 2/h peak.
    assert auc["ip"] / 1000 == pytest.approx(2 * 0.03 / 0.004, rel=1e-3)


def test_food_intake_per_body_weight_scales_and_an_exact_strain_row_wins():
    assert food_intake("mouse", 0.03, "UM-HET3", "male", FOOD) == 5.0
    assert food_intake("mouse", 0.03, "UM-HET3", "female", FOOD) == pytest.approx(4.8)
    assert food_intake("mouse", 0.025, "C57BL/6J", "male", FOOD) == pytest.approx(4.0)
    with pytest.raises(PkdoseError, match="no food-intake data for a dog"):
        food_intake("dog", 10.0, data=FOOD)


def test_feeding_pattern_is_light_then_dark_and_defaults_to_even():
    assert feeding_pattern("dog", FOOD) == EVEN_FEEDING
    assert feeding_pattern("mouse", FOOD) == NOCTURNAL
    bad = {"feeding_pattern": {"mouse": {"dark_fraction_default": 1.5}}}
    with pytest.raises(PkdoseError, match="0 < dark_fraction_default < 1"):
        feeding_pattern("mouse", bad)


@pytest.mark.parametrize("text", ["rapamycin 14 ppm diet", "rapamycin 2 mg/kg ip every 5 days",
                                  "rapamycin 1.5 mg/kg sc 3 times weekly"])
def test_a_human_model_refuses_animal_routes_in_one_line(text):
    with pytest.raises(PkdoseError, match="choose the animal species") as err:
        simulate(text, until_h=48)
    assert "\n" not in str(err.value) and err.value.options == ("species",)


def test_an_animal_model_warns_outside_its_dose_and_ppm_range(mouse):
    with pytest.warns(ExtrapolationWarning, match="126 ppm lies outside the 4.7-42 ppm"):
        simulate("rapamycin 126 ppm diet", model=mouse, subjects={"food_g_day": 4.0},
                 until_h=24)
    with pytest.warns(ExtrapolationWarning, match="20 mg/kg lies outside"):
        simulate("rapamycin 20 mg/kg ip once", model=mouse, until_h=24)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simulate("rapamycin 14 ppm diet", model=mouse, subjects={"food_g_day": 4.0},
                 until_h=24)


@pytest.mark.parametrize(
    ("subjects", "message"),
    [
        ({"weight_kg": 30.0}, "implausible"),
        ({"height_cm": 10.0}, "do not apply to a mouse"),
        ({"sex": "x"}, "male or female"),
    ],
)
def test_animal_subjects_have_weight_sex_and_food_only(mouse, subjects, message):
    with pytest.raises(PkdoseError, match=message):
        prepare(mouse, subjects)


def test_an_animal_model_refuses_human_co_medications(mouse):
    # A human ketoconazole study's ratio was applied to the mouse silently (Cavg x11), while
    # every human covariate was refused.
    for with_ in ("ketoconazole", "rifampin:day2-"):
        with pytest.raises(PkdoseError, match="come from human studies; fixture-mouse is a "
                                              "mouse model"):
            simulate("rapamycin 14 ppm diet", model=mouse, subjects={"food_g_day": 4.0},
                     until_h=24, with_=with_)


def test_an_animal_model_without_the_route_names_its_routes_not_iv_only():
    # The shipped mouse model has no oral route; it was told to be an iv-only drug.
    with pytest.raises(PkdoseError, match="fitted to diet/ip/sc dosing only"):
        simulate("sirolimus 1 mg daily", species="mouse", until_h=24)
    with pytest.raises(PkdoseError, match="intravenous infusion only"):
        simulate("temsirolimus 25 mg daily", until_h=24)


def test_a_ppm_diet_without_food_data_says_how_to_give_it(mouse, monkeypatch):
    monkeypatch.setattr("pkdose.species.food_data", lambda: {})
    with pytest.raises(PkdoseError, match="food_g_day") as err:
        simulate("rapamycin 14 ppm diet", model=mouse, until_h=24)
    assert err.value.options == ("food_g_day",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"species": "cat"}}, "species must be one of"),
        ({"model": {"reference_weight_kg": None}}, "needs \\[model\\] reference_weight_kg"),
        ({"structure": {"routes": ["ip", "gavage"]}}, "unknown route"),
        ({"structure": {"routes": ["ip"]}}, "ka_diet is for route diet"),
        ({"uncertainty": {"cl": {"low": 2.0, "high": 1.0, "basis": "x"}}}, "0 < low <= high"),
    ],
)
def test_species_model_files_are_validated(change, message):
    raw = {k: dict(v) for k, v in FIXTURE_MOUSE.items()}
    for table, values in change.items():
        raw.setdefault(table, {}).update(values)
        raw[table] = {k: v for k, v in raw[table].items() if v is not None}
    with pytest.raises(PkdoseError, match=message):
        model_from_dict(raw)


def test_species_picks_its_default_model_and_is_checked_against_a_named_one():
    assert get_model(drug="sirolimus", species="human").species == "human"
    with pytest.raises(PkdoseError, match="unknown species"):
        get_model(drug="sirolimus", species="cat")
    with pytest.raises(PkdoseError, match="is a human model, not mouse"):
        get_model("wu2012", species="mouse")


@pytest.mark.parametrize("species", ["mouse", "dog", "marmoset"])
def test_every_species_has_a_shipped_default_model_that_validates(species):
    m = get_model(drug="sirolimus", species=species)
    assert m.species == species and m.default and m.reference_weight_kg > 0
    assert m.source.get("citation")
    # Human listings and the human default are unchanged by the animal models.
    assert get_model(drug="sirolimus").species == "human"


def _fit_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "fit_species_pk.py"
    spec = importlib.util.spec_from_file_location("fit_species_pk", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_mouse_diet_day_matches_the_fit_scripts_independent_profile():
    # The fit script steps the same diet with its own matrix exponentials, starting the
    # day at lights-off; pkdose starts it at lights-on, hence the 12 h shift.
    m = get_model(drug="sirolimus", species="mouse")
    prep = prepare(m)
    t = np.arange(0.0, 24.0 + 1e-9, 0.25)
    ours = steady_state_concentrations(prep, parse_regimen("rapamycin 14 ppm diet"), t)
    daily_mg = 14 * prep.cov["food_g_day"].iloc[0] / 1000
    dark = feeding_pattern("mouse")[1].fraction
    ref = _fit_script().diet_day_profile(daily_mg, dark, m.typical("ka_diet"), m.typical("v1"),
                                         m.typical("cl")) * 1000  # mg/L -> ng/mL
    np.testing.assert_allclose(ours["conc_ng_ml"][0], np.roll(ref[:-1], -48).tolist()
                               + [ref[48]], rtol=1e-8)


def test_shipped_marmoset_and_dog_reproduce_their_published_levels():
    # Tardif 2015: mean trough 5.2 ng/mL (range 1.93-10.73) at about 1 mg/kg/day.
    marmoset = simulate("rapamycin 1 mg/kg daily", species="marmoset",
                        times_h=[24.0 * 60])["conc_ng_ml"].iloc[0]
    assert marmoset == pytest.approx(5.2, rel=0.02)
    # Larson 2016: 0.1 mg/kg once, Cmax 8.39 +/- 1.73 ng/mL (mean +/- SD; 2 SD allowed).
    dog = simulate("rapamycin 0.1 mg/kg once", species="dog", until_h=48, step_h=0.05)
    assert abs(dog["conc_ng_ml"].max() - 8.39) <= 2 * 1.73


def test_an_injection_route_known_only_as_a_range_is_flagged():
    with pytest.warns(ExtrapolationWarning, match="rests on f_ip = 5, known only as 1-25"):
        simulate("rapamycin 2 mg/kg ip every 5 days", species="mouse", until_h=24)


ANISIMOV = "rapamycin 1.5 mg/kg sc 3 times weekly, 2 weeks per month"


def test_shipped_mouse_model_takes_sc_with_f_sc_and_warns_that_f_sc_is_a_range():
    m = get_model(drug="sirolimus", species="mouse")
    assert "sc" in m.routes and m.uncertainty["f_sc"]["basis"]
    f_sc, cl = m.typical("f_sc"), m.typical("cl")
    assert m.uncertainty["f_sc"]["low"] <= f_sc <= m.uncertainty["f_sc"]["high"]
    with pytest.warns(ExtrapolationWarning, match="rests on f_sc = 5, known only as 1-25"):
        simulate(ANISIMOV, species="mouse", until_h=24)
    # Cycle average = F dose / (CL x cycle): six 1.5 mg/kg doses to 30 g per 730.5 h month.
    t = np.linspace(0.0, 730.5, 29221)
    ss = steady_state_concentrations(prepare(m), parse_regimen(ANISIMOV), t)
    cavg = np.trapezoid(ss["conc_ng_ml"][0], t) / 730.5
    assert cavg == pytest.approx(f_sc * 6 * 1.5 * 0.03 / cl / 730.5 * 1000, rel=1e-4)


def test_sc_predictions_scale_with_f_sc_and_only_sc_does():
    m = get_model(drug="sirolimus", species="mouse")
    t = np.arange(0.0, 24 * 7 + 1e-9, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        sim = {f: simulate("rapamycin 1.5 mg/kg sc 3 times weekly",
                           model=m.with_params(f_sc=f), times_h=t)["conc_ng_ml"].to_numpy()
               for f in (1.0, 25.0)}
        ip = {f: simulate("rapamycin 2 mg/kg ip once", model=m.with_params(f_sc=f),
                          times_h=t)["conc_ng_ml"].to_numpy() for f in (1.0, 25.0)}
    assert sim[1.0].max() > 0
    np.testing.assert_allclose(sim[25.0], 25.0 * sim[1.0], rtol=1e-9)
    np.testing.assert_allclose(ip[25.0], ip[1.0], rtol=0, atol=0)


def test_every_animal_regimen_of_the_shipped_library_has_a_route_in_its_species_model():
    # What `pkdose report pkdose/data/regimens/` needs to report the library whole.
    from pkdose import references

    animal = [references.get(n) for n in references.names()]
    animal = [r for r in animal if r.species != "human"]
    assert any(r.name == "anisimov2011" for r in animal)
    for r in animal:
        m = get_model(drug=r.drug, species=r.species)
        regimens = [a.regimen for a in r.arms] or [r.regimen]
        routes = {b.dose.route for reg in regimens for b in reg.blocks}
        assert routes <= set(m.routes), (r.name, routes, m.routes)


@settings(max_examples=30, deadline=None)
@given(dark=st.floats(0.05, 0.95), dark_h=st.floats(1.0, 23.0), ka=st.floats(0.05, 20.0),
       ppm=st.floats(0.5, 500.0))
def test_any_feeding_pattern_keeps_the_daily_average_at_f_dose_over_cl(dark, dark_h, ka, ppm):
    raw = {k: dict(v) for k, v in FIXTURE_MOUSE.items()}
    raw["parameters"]["ka_diet"] = {"value": ka, "unit": "1/h"}
    raw["population"] = {}
    model = model_from_dict(raw)
    pattern = feeding_pattern("mouse", {"feeding_pattern": {"mouse": {
        "dark_fraction_default": dark, "dark_phase_h": dark_h}}})
    prep = prepare(model, {"food_g_day": 4.0})
    sys, bio = prep.route_inputs("diet")
    t = np.linspace(0.0, 24.0, 4801)
    conc = sum(solver.train_central(sys, tr, np.array([tr.amount * 4.0 / 1000]), bio,
                                    np.zeros(1), t, steady_state=True)[0]
               for tr in diet_trains([DoseTrain(0.0, 24.0, np.inf, ppm, "ppm", "diet")],
                                     pattern))
    cavg = np.trapezoid(conc, t) / 24 / model.typical("v1")
    assert cavg == pytest.approx(0.25 * ppm * 4.0 / 1000 / 24 / 0.004, rel=1e-5)


def test_species_doc_is_current():
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gen_species_doc",
                                                  root / "scripts" / "gen_species_doc.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0, "run: python scripts/gen_species_doc.py"
