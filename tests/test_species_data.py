"""Animal rapamycin data and species models: cited, with units, and reproducible by the fit."""

from __future__ import annotations

import importlib.util
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "pkdose" / "data"
SPECIES_MODELS = ROOT / "pkdose" / "models" / "species"
ROUTES = {"oral", "iv", "ip", "sc", "diet"}
SPECIES = {"mouse", "dog", "marmoset"}


def _load(path: Path) -> dict:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def observations() -> dict:
    return _load(DATA / "species_observations.toml")


@pytest.fixture(scope="module")
def food() -> dict:
    return _load(DATA / "food_intake.toml")


@pytest.fixture(scope="module")
def models() -> dict[str, dict]:
    return {p.stem: _load(p) for p in sorted(SPECIES_MODELS.glob("*.toml"))}


@pytest.fixture(scope="module")
def fit_script():
    spec = importlib.util.spec_from_file_location("fit_species_pk",
                                                  ROOT / "scripts" / "fit_species_pk.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_observation_has_value_unit_matrix_and_citation(observations):
    rows = observations["observation"]
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        for key in ("species", "route", "dose", "dose_unit", "metric", "value", "unit",
                    "statistic", "matrix", "citation", "where"):
            assert r.get(key) not in (None, ""), f"{r['id']} lacks {key}"
        assert r["value"] > 0 and r["dose"] > 0
        assert r["matrix"] == "whole blood"
        assert r["route"] in ROUTES
        assert isinstance(r["verified"], bool) and isinstance(r["use_in_fit"], bool)
        assert "doi" in r or "pmid" in r or r["verified"], r["id"]


def _interval(row: dict) -> tuple[float, float]:
    tol = row["tolerance"]
    if tol["rule"] == "range":
        return tol["low"], tol["high"]
    return row["value"] - tol["k"] * row["sd"], row["value"] + tol["k"] * row["sd"]


def _row(observations: dict, key: str) -> dict:
    return next(r for r in observations["observation"] if r["id"] == key)


def test_tolerances_are_stated_with_a_reason(observations):
    for r in observations["observation"]:
        if "tolerance" in r:
            lo, hi = _interval(r)
            assert lo <= r["value"] <= hi and r["tolerance_reason"], r["id"]


def test_findings_and_gaps_say_where_in_the_source(observations):
    for f in observations["finding"]:
        assert f["statement"] and f["citation"] and f["where"]
        assert isinstance(f["verified"], bool)
    for g in observations["gap"]:
        assert g["wanted"] and g["where"] and g["why_missing"]


def test_food_intake_rows_have_units_and_sources(food):
    for row in food["intake"]:
        assert row["value"] > 0 and row["unit"] and row["citation"]
        assert isinstance(row["verified"], bool)
    assert sum(bool(r.get("default")) for r in food["intake"]) == 1
    mouse = food["feeding_pattern"]["mouse"]
    lo, hi = mouse["dark_fraction_range"]
    assert lo <= mouse["dark_fraction_default"] <= hi and mouse["citation"]


def test_species_models_have_the_agreed_schema(models):
    assert set(models) == {"mouse_diet", "dog_oral", "marmoset_oral"}
    for name, m in models.items():
        meta, struct, params = m["model"], m["structure"], m["parameters"]
        assert meta["name"] == name and meta["drug"] == "sirolimus"
        assert meta["species"] in SPECIES and meta["reference_weight_kg"] > 0
        assert set(struct["routes"]) <= ROUTES
        assert struct["clearance_reference_route"] in struct["routes"]
        assert struct["absorption"] == "first_order" and struct["disposition"] in (1, 2)
        needed = {"cl", "v1", "ka"} | ({"q", "v2"} if struct["disposition"] == 2 else set())
        assert needed <= set(params)
        for key, p in params.items():
            assert p["value"] > 0 and p["unit"], f"{name}: {key}"
        for key, u in m["uncertainty"].items():
            assert u["low"] <= u["high"] and u["basis"], f"{name}: {key}"
            if key in params:
                assert u["low"] <= params[key]["value"] <= u["high"], f"{name}: {key}"
        assert m["source"]["citation"] and m["source"]["fit"] == "scripts/fit_species_pk.py"


def test_exactly_one_default_model_per_species(models):
    defaults = [m["model"]["species"] for m in models.values() if m["model"].get("default")]
    assert sorted(defaults) == sorted(set(defaults))
    assert "mouse" in defaults


def test_fit_script_check_passes(fit_script, capsys):
    assert fit_script.main(["--check"]) == 0
    assert "residual livi2013-diet-14ppm" in capsys.readouterr().out


def test_mouse_14ppm_daily_average_is_the_cited_level(models, food, observations):
    """About 4 ng/mL at 14 ppm (Livi 2013), read as 3.5-4.5 ng/mL."""
    m = models["mouse_diet"]
    design = next(r for r in food["intake"] if r.get("default"))
    w = m["model"]["reference_weight_kg"]
    rate_mg_h = design["value"] * w / 24.0
    cavg_ng_ml = rate_mg_h / m["parameters"]["cl"]["value"] * 1000.0
    lo, hi = _interval(_row(observations, "livi2013-diet-14ppm"))
    assert lo <= cavg_ng_ml <= hi


def test_mouse_diet_profile_averages_to_input_over_clearance(fit_script):
    prof = fit_script.diet_day_profile(0.0672, 0.8, 0.5, 10.0, 0.7)
    assert prof[:-1].mean() == pytest.approx(0.0672 / 24.0 / 0.7, rel=2e-3)
    assert prof[0] == pytest.approx(prof[-1], rel=1e-9)  # periodic steady state


def test_marmoset_trough_inside_published_range(models, fit_script, observations):
    """Tardif 2015: mean trough 5.2 ng/mL, range 1.93-10.73, at ~1 mg/kg/day."""
    p = {k: v["value"] for k, v in models["marmoset_oral"]["parameters"].items()}
    w = models["marmoset_oral"]["model"]["reference_weight_kg"]
    t = np.array([24.0 * 60])
    c = fit_script.one_cpt_oral(t, [24.0 * k for k in range(60)], 1.0 * w, p["ka"], p["v1"],
                                p["cl"]) * 1000.0
    lo, hi = _interval(_row(observations, "tardif2015-trough"))
    assert lo <= c[0] <= hi
    assert c[0] == pytest.approx(5.2, rel=0.01)


def test_dog_single_dose_matches_larson_within_two_sd(models, fit_script, observations):
    p = {k: v["value"] for k, v in models["dog_oral"]["parameters"].items()}
    w = models["dog_oral"]["model"]["reference_weight_kg"]
    t = np.linspace(0.0, 48.0, 4801)
    c = fit_script.two_cpt_oral(t, [0.0], 0.1 * w, p["ka"], p["v1"], p["q"], p["v2"],
                                p["cl"]) * 1000.0
    beta = fit_script.terminal_rate(p["v1"], p["q"], p["v2"], p["cl"])
    predicted = {"cmax": c.max(), "auc48": np.trapezoid(c, t), "thalf": math.log(2) / beta}
    for key, value in predicted.items():
        lo, hi = _interval(_row(observations, f"larson2016-single-{key}"))
        assert lo <= value <= hi, key
