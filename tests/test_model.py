"""Specification of pkdose.model: the shipped model files, covariates and parameters.

Published numbers are those of the source tables as transcribed in nlmixr2lib
(``inst/modeldb/specificDrugs/*.R``) and the project's literature digest; each test says
which statement it checks and with what tolerance.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkdose import solver
from pkdose.children import is_paediatric
from pkdose.errors import PkdoseError
from pkdose.model import (
    COVARIATES,
    Model,
    builtin_models,
    covariate_table,
    default_subject,
    get_model,
    individual_parameters,
    load_model_file,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "pkdose" / "models"
DOC = ROOT / "docs" / "models.md"


def load_generator():
    """scripts/gen_model_docs.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gen_model_docs",
                                                  ROOT / "scripts" / "gen_model_docs.py")
    gen = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes.
    sys.modules[spec.name] = gen
    spec.loader.exec_module(gen)
    return gen


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    return builtin_models()


@pytest.fixture(scope="module")
def gen():
    return load_generator()


def params_for(model: Model | str, **covariates) -> dict[str, np.ndarray]:
    """Structural parameters of one subject with the given covariates (others default)."""
    m = get_model(model) if isinstance(model, str) else model
    return individual_parameters(m, covariate_table(covariates))


def one(p: dict[str, np.ndarray], key: str) -> float:
    return float(p[key][0])


def terminal_half_life(model: str, **covariates) -> float:
    m = get_model(model)
    sys = solver.build_system(params_for(m, **covariates), m.n_chain)
    return float(math.log(2.0) / sys.lam[0, -1])


# ----------------------------------------------------------------------------- registry


def test_every_shipped_model_file_loads_and_validates(models):
    files = sorted(MODEL_DIR.glob("*.toml"))
    assert len(files) == len(models)
    # Every shipped model needs its published values checked below.
    assert set(models) == set(PUBLISHED)
    for path in files:
        m = load_model_file(path)
        assert models[m.name].parameters == m.parameters
        if m.metabolite:
            # Derived from a label's summary numbers (tests/test_temsirolimus.py): the label
            # is its source, and it states no patient count or covariate ranges.
            assert m.source.get("citation") and m.source.get("label"), m.name
            assert m.validity("dose_mg"), m.name
            continue
        assert m.source.get("citation") and m.source.get("doi"), m.name
        assert m.population.get("n_subjects", 0) > 0
        # A paediatric source states its doses per kg per day (Fan 2024: 0.018-0.152).
        dose_key = "dose_mg_kg_day" if is_paediatric(m) else "dose_mg"
        for key in ("age_y", "weight_kg", dose_key):
            lo, hi = m.validity(key)
            # A model fitted to one dose level (Mo 2025: 5 mg) has lo == hi.
            assert 0 < lo < hi or (key == dose_key and 0 < lo == hi), (m.name, key)
        # The typical subject must give finite, positive structural parameters.
        for key, values in params_for(m).items():
            floor = 0.0 if key == "tlag" else np.nextafter(0.0, 1.0)  # no lag is allowed
            assert np.all(np.isfinite(values)) and np.all(values >= floor), (m.name, key)


def test_exactly_one_default_model_per_drug(models):
    drugs = {m.drug for m in models.values()}
    assert drugs == {"sirolimus", "everolimus", "temsirolimus"}
    for drug in drugs:
        defaults = [m.name for m in models.values() if m.drug == drug and m.default]
        assert len(defaults) == 1, (drug, defaults)
    assert get_model(drug="sirolimus").name == "wu2012"
    assert get_model(drug="everolimus").name == "terheine2018"


# Final-model typical values as printed in the sources (Wu 2012 Table 1; Golubovic 2019
# Table IV; ter Heine 2018 Table 2 and Methods; de Wit 2016 Table 2). Exact equality: the
# TOML files must carry the published numbers, not rounded or rescaled ones.
PUBLISHED = {
    "wu2012": {"cl": 12.9, "v1": 53.4, "q": 29.0, "v2": 611.0, "vm": 4.56, "km": 13.8},
    "golubovic2019": {"cl": 12.2, "v1": 118.0, "v2": 609.0, "q": 5.07, "ka": 2.19},
    "terheine2018": {"mat": 0.404, "clint": 340.0, "v1": 175.0, "v2": 577.0, "q": 85.7,
                     "qh": 90.0, "fu": 0.27, "bmax_ng_ml": 964.0, "kd_ng_ml": 92.0,
                     "kns": 0.153},
    "dewit2016": {"ka": 0.647, "cl": 17.4, "v1": 25.2, "q": 51.1, "v2": 400.0, "f": 1.0},
    # Fitted by scripts/fit_sirolimus_pk.py (its --check guards the fit; this, the file).
    "pkdose2026": {"cl": 11.78, "v1": 145.6, "q": 23.64, "v2": 212.5, "q2": 13.0,
                   "v3": 545.9, "vm": 5.305, "km": 13.8, "f": 1.0},
    # Mo 2025 Table 4 (as transcribed in nlmixr2lib Mo_2025_everolimus.R).
    "mo2025": {"ka": 9.48, "fr_zo": 0.62, "tk0": 1.12, "tlag": 0.63, "cl": 7.11, "v1": 47.66,
               "q": 14.32, "v2": 205.94},
    # Derived from the Torisel label by scripts/derive_temsirolimus.py (checked against the
    # label numbers and the script in tests/test_temsirolimus.py).
    "torisel2007": {"cl": 15.366, "v1": 36.355, "q": 8.9203, "v2": 135.65, "cl_m": 5.0497,
                    "v_m": 397.77},
    # Fan 2024 Table 2 (at 16 kg; ka fixed by the authors).
    "fan2024": {"cl": 4.06, "v1": 155.0, "ka": 0.485},
}
FIXED = {
    "wu2012": set(),
    "golubovic2019": {"ka"},
    "terheine2018": {"qh", "fu", "bmax_ng_ml", "kd_ng_ml", "kns"},
    "dewit2016": {"v2", "f"},
    "pkdose2026": {"km", "f"},
    "mo2025": set(),
    "torisel2007": set(),
    "fan2024": {"ka"},
}
PUBLISHED_RSE = {
    "wu2012": {"cl": 16.3, "v1": 38.0, "q": 8.17, "v2": 11.3, "vm": 37.7, "km": 50.3},
    "dewit2016": {"ka": 6.2, "cl": 8.4, "v1": 17.8, "q": 7.3},
    "fan2024": {"cl": 4.0, "v1": 26.0},
    "mo2025": {"ka": 31.6, "fr_zo": 8.0, "tk0": 12.9, "tlag": 24.2, "cl": 5.6, "v1": 5.5,
               "q": 6.3, "v2": 5.3},
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_typical_values_equal_the_published_ones(models, name):
    m = models[name]
    assert set(m.parameters) == set(PUBLISHED[name])
    for key, value in PUBLISHED[name].items():
        assert m.typical(key) == value, key
    assert {k for k, p in m.parameters.items() if p.fixed} == FIXED[name]
    for key, rse in PUBLISHED_RSE.get(name, {}).items():
        assert m.parameters[key].rse_pct == rse, key


def test_structures_match_the_sources(models):
    wu, gol, th, dw = (models[n] for n in ("wu2012", "golubovic2019", "terheine2018",
                                           "dewit2016"))
    assert (wu.absorption, wu.disposition, wu.clearance) == ("michaelis_menten", 2, "direct")
    assert (gol.absorption, gol.disposition) == ("first_order", 2)
    assert (dw.absorption, dw.disposition) == ("first_order", 2)
    # ter Heine: 4 transit compartments, ktr = 5/MAT (Savic convention in nlmixr2lib).
    assert (th.absorption, th.n_transit, th.n_chain) == ("transit", 4, 5)
    assert one(params_for(th), "ktr") == pytest.approx(5 / 0.404)
    assert (th.clearance, th.blood, th.concentration) == (
        "well_stirred_liver", "langmuir_rbc", "plasma")
    assert th.outputs == ("conc_ng_ml", "plasma_ng_ml")


# CV % as printed (Wu Table 1, ter Heine Table 2, de Wit Table 2); Golubovic prints omega.
PUBLISHED_CV = {
    "wu2012": {"iiv": {"cl": 52.4, "v1": 52.4, "q": 70.5, "v2": 19.3}},
    "terheine2018": {"iiv": {"clint": 33.9, "v1": 40.6}, "iov": {"mat": 110.0}},
    "dewit2016": {"iiv": {"cl": 35.1, "v1": 86.4}, "iov": {"f": 19.2}},
}
PUBLISHED_OMEGA = {"golubovic2019": {"cl": 0.0547, "v1": 0.306, "v2": 0.0657, "q": 0.103,
                                     "ka": 0.145}}
PUBLISHED_RESIDUAL = {
    "wu2012": {"proportional": 0.0217, "additive_ng_ml": 0.5},
    "golubovic2019": {"proportional": 0.249, "additive_ng_ml": 1.93},
    "terheine2018": {"proportional": 0.179},
    "dewit2016": {"proportional": 0.273},
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_CV))
def test_variability_reproduces_the_published_cv(models, name, gen):
    m = models[name]
    for level, cvs in PUBLISHED_CV[name].items():
        var = getattr(m, level)
        assert set(var.parameters) == set(cvs)
        for i, key in enumerate(var.parameters):
            # omega = ln(1 + CV^2) was rounded to 4-5 decimals in the TOML files.
            assert gen.cv_pct(var.matrix[i, i]) == pytest.approx(cvs[key], abs=0.05), key
            assert var.matrix[i, i] == pytest.approx(math.log1p((cvs[key] / 100) ** 2),
                                                     abs=5e-5)


def test_golubovic_omegas_are_the_published_log_variances(models):
    var = models["golubovic2019"].iiv
    assert dict(zip(var.parameters, np.diag(var.matrix), strict=True)) == (
        PUBLISHED_OMEGA["golubovic2019"])
    assert not models["golubovic2019"].iov.parameters


def test_mo_omegas_are_the_squares_of_the_published_sds_and_reproduce_its_cv(models, gen):
    # Mo 2025 Table 4 prints omega as the SD of eta with a C.V. column; the TOML holds the
    # variances. Log-normal rows: CV from the two-decimal SD is within 0.5 points of the
    # printed one (rounding of the SD); the zero-order fraction is logit-normal, whose CV
    # (26.8 %) is the printed 27.05 % to the same rounding (log-normal would give 88 %).
    sd = {"ka": 0.94, "cl": 0.28, "v1": 0.26, "q": 0.31, "v2": 0.26, "tk0": 0.48,
          "tlag": 0.78, "fr_zo": 0.76}
    cv = {"ka": 118.88, "cl": 28.76, "v1": 26.66, "q": 31.30, "v2": 26.38, "tk0": 50.82,
          "tlag": 91.25, "fr_zo": 27.05}
    var = models["mo2025"].iiv
    assert var.logit == ("fr_zo",) and set(var.parameters) == set(sd)
    for i, key in enumerate(var.parameters):
        assert var.matrix[i, i] == pytest.approx(sd[key] ** 2, rel=1e-12), key
        got = (gen.logit_cv_pct(0.62, var.matrix[i, i]) if key == "fr_zo"
               else gen.cv_pct(var.matrix[i, i]))
        assert got == pytest.approx(cv[key], abs=0.5), key
    assert dict(models["mo2025"].residual) == {"proportional": 0.1}


@pytest.mark.parametrize("name", sorted(PUBLISHED_RESIDUAL))
def test_residual_error_is_the_published_one(models, name):
    assert dict(models[name].residual) == PUBLISHED_RESIDUAL[name]


def test_omega_matrices_are_symmetric_positive_semidefinite(models):
    for m in models.values():
        for var in (m.iiv, m.iov):
            mat = var.matrix
            assert mat.shape == (len(var.parameters),) * 2
            assert np.array_equal(mat, mat.T), m.name
            if mat.size:
                assert np.linalg.eigvalsh(mat).min() >= 0, m.name
                assert np.all(np.diag(mat) > 0), m.name


@settings(max_examples=50, deadline=None)
@given(cv=st.floats(min_value=0.01, max_value=3.0))
def test_cv_and_omega_round_trip(gen, cv):
    # The docs print CV % = 100 sqrt(exp(omega) - 1); the files store omega = ln(1 + CV^2).
    assert gen.cv_pct(math.log1p(cv**2)) == pytest.approx(100 * cv, rel=1e-12)


# ---------------------------------------------------------------------- covariate effects


def test_wu_haematocrit_effect_reproduces_wus_statement():
    # Wu 2012 Discussion: HCT 35.1 -> 44.7 % lowers CL/F from 12.9 to 12.4 L/h (~4 %).
    assert one(params_for("wu2012", hct_pct=35.1), "cl") == pytest.approx(12.9, rel=1e-12)
    cl_high = one(params_for("wu2012", hct_pct=44.7), "cl")
    assert cl_high == pytest.approx(12.9 * (35.1 / 44.7) ** 0.14, rel=1e-12)
    assert cl_high == pytest.approx(12.4, abs=0.1)  # 12.47: Wu rounds to 12.4
    assert 0.03 < 1 - cl_high / 12.9 < 0.04


def test_golubovic_age_and_ast_effects():
    # Golubovic 2019: CL/F = 12.2 * 0.63^(AST > 37) * (1 - 0.388 AGE/44) -> 7.47 L/h at 44 y.
    assert one(params_for("golubovic2019", age_y=44), "cl") == pytest.approx(7.47, abs=0.005)
    base = one(params_for("golubovic2019", age_y=44, ast_iu_l=37), "cl")
    high = one(params_for("golubovic2019", age_y=44, ast_iu_l=38), "cl")
    assert base == pytest.approx(7.4664, rel=1e-12)  # 37 is the upper limit of normal
    assert high / base == pytest.approx(0.63, rel=1e-12)
    # Discussion: -49 % from 16 to 64 years.
    ratio = (one(params_for("golubovic2019", age_y=64), "cl")
             / one(params_for("golubovic2019", age_y=16), "cl"))
    assert 1 - ratio == pytest.approx(0.49, abs=0.005)


def test_golubovic_linear_age_effect_refuses_to_reach_zero_clearance():
    # 1 - 0.388 AGE/44 = 0 at 113.4 y, which covariate_table still accepts (<= 120 y).
    with pytest.raises(PkdoseError, match="cl"):
        params_for("golubovic2019", age_y=115)


def test_ffm_of_the_ter_heine_reference_man_is_57_2_kg():
    # Janmahasatian 2005, male: 9270 WT / (6680 + 216 BMI); ter Heine's reference 57.2 kg.
    ffm = covariate_table({"sex": "male", "weight_kg": 70, "height_cm": 180})["ffm_kg"][0]
    assert ffm == pytest.approx(9270 * 70 / (6680 + 216 * 70 / 1.8**2), rel=1e-12)
    assert ffm == pytest.approx(57.2, abs=0.05)
    female = covariate_table({"sex": "female", "weight_kg": 60, "height_cm": 165})
    assert female["ffm_kg"][0] == pytest.approx(9270 * 60 / (8780 + 244 * 60 / 1.65**2))


def test_ter_heine_liver_model_gives_the_digests_f_and_cl():
    # Digest (derived from ter Heine 2018 at HCT 0.42, FFM 57.2): F ~ 0.36-0.38, CL ~ 33 L/h.
    p = params_for("terheine2018", hct_pct=42)
    ffm = covariate_table()["ffm_kg"][0]
    qhp = 90 * (ffm / 57.2) ** 0.75 * (1 - 0.42)
    eh = 0.27 * 340 / (qhp + 0.27 * 340)
    assert one(p, "cl") == pytest.approx(qhp * eh, rel=1e-12)
    assert one(p, "f") == pytest.approx(1 - eh, rel=1e-12)
    assert 0.36 <= one(p, "f") <= 0.38  # 0.362
    assert one(p, "cl") == pytest.approx(33.0, abs=0.5)  # 33.27
    # Lower haematocrit: more hepatic plasma flow, so higher CL and higher F.
    low = params_for("terheine2018", hct_pct=30)
    assert one(low, "cl") > one(p, "cl") and one(low, "f") > one(p, "f")


def test_ter_heine_prednisolone_threshold_and_size_scaling():
    def clint_ratio(**cov) -> float:
        # Back out fu*CLint from EH = fu CLint / (QHP + fu CLint) and F = 1 - EH.
        p = params_for("terheine2018", **cov)
        qhp = one(p, "cl") / (1 - one(p, "f"))
        return qhp * (1 - one(p, "f")) / one(p, "f")

    base = clint_ratio(prednisolone_mg_day=19.9)
    assert base == pytest.approx(0.27 * 340, rel=1e-9)
    assert clint_ratio(prednisolone_mg_day=20) / base == pytest.approx(1.31, rel=1e-9)
    small, big = params_for("terheine2018", ffm_kg=57.2), params_for("terheine2018",
                                                                     ffm_kg=2 * 57.2)
    assert one(big, "v1") / one(small, "v1") == pytest.approx(2.0)
    assert one(big, "v2") / one(small, "v2") == pytest.approx(2.0)
    assert one(big, "q") / one(small, "q") == pytest.approx(2**0.75)


def test_de_wit_abcb1_and_weight_effects():
    assert one(params_for("dewit2016", abcb1_ttt=1), "f") == pytest.approx(0.792)
    assert one(params_for("dewit2016", abcb1_ttt=0), "f") == 1.0
    p = params_for("dewit2016", weight_kg=100)
    assert one(p, "cl") == pytest.approx(17.4 * (100 / 70) ** 0.75, rel=1e-12)
    assert one(p, "v1") == pytest.approx(25.2 * 100 / 70, rel=1e-12)
    assert (one(p, "q"), one(p, "v2")) == (51.1, 400.0)  # not scaled in the source


@pytest.mark.parametrize(("name", "covariates", "expected_h"), [
    ("wu2012", {"hct_pct": 35.1}, 49.5),         # digest S-M1: beta t1/2 49.5 h
    ("golubovic2019", {"age_y": 44}, 144.0),     # digest S-M2: ~144 h at 44 y
    ("golubovic2019", {"age_y": 70}, 183.0),     # and 183 h at 70 y
    ("terheine2018", {"hct_pct": 42}, 19.5),     # digest E-M1: plasma t1/2 ~19.5 h
    ("dewit2016", {}, 22.0),                     # digest E-M2: 22 h
    ("mo2025", {}, 33.3),                        # issue 13: Mo 2025 t1/2 ~33 h
])
def test_terminal_half_lives_match_the_digest(name, covariates, expected_h):
    # The digest rounds to 3 significant figures; 1 % covers that.
    assert terminal_half_life(name, **covariates) == pytest.approx(expected_h, rel=0.01)


# ------------------------------------------------------------------ individual parameters


def test_individual_parameters_multiply_by_exp_eta(models):
    wu = models["wu2012"]
    cov = covariate_table(n=2)
    eta = np.array([[0.1, -0.2, 0.3, 0.0], [0.0, 0.0, 0.0, -0.5]])  # cl, v1, q, v2
    typ = individual_parameters(wu, cov)
    ind = individual_parameters(wu, cov, eta=eta)
    for j, key in enumerate(wu.iiv.parameters):
        np.testing.assert_allclose(ind[key], typ[key] * np.exp(eta[:, j]), rtol=1e-14)
    np.testing.assert_array_equal(ind["vm"], typ["vm"])  # no IIV on Vm in Wu 2012
    # IOV: de Wit on F, ter Heine on MAT (so ktr = 5 / (MAT exp(kappa))).
    f = individual_parameters(models["dewit2016"], cov, eta_occ=np.array([[0.2], [-0.2]]))["f"]
    np.testing.assert_allclose(f, np.exp([0.2, -0.2]), rtol=1e-14)
    th = individual_parameters(models["terheine2018"], cov, eta_occ=np.array([[0.5], [0.0]]))
    np.testing.assert_allclose(th["ktr"], 5 / (0.404 * np.exp([0.5, 0.0])), rtol=1e-14)


def test_with_params_overrides_a_typical_value(models):
    wu = models["wu2012"]
    new = wu.with_params(cl=7.5, v2=700)
    assert (new.typical("cl"), new.typical("v2")) == (7.5, 700.0)
    assert wu.typical("cl") == 12.9  # the registry's model is unchanged
    assert "overridden" in new.parameters["cl"].label
    # Covariate effects still apply on top of the override.
    cl = one(individual_parameters(new, covariate_table({"hct_pct": 44})), "cl")
    assert cl == pytest.approx(7.5 * (35.1 / 44) ** 0.14)


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "7.5"])
def test_with_params_rejects_non_positive_values(models, value):
    with pytest.raises(PkdoseError, match="positive"):
        models["wu2012"].with_params(cl=value)


def test_with_params_rejects_unknown_parameters(models):
    with pytest.raises(PkdoseError, match="no parameter 'cl'") as err:
        models["terheine2018"].with_params(cl=30.0)
    assert "clint" in str(err.value)  # the message lists the valid names


# ------------------------------------------------------------------------------- lookup


def test_get_model_by_name_and_drug(models):
    assert get_model("golubovic2019") is not None
    assert get_model("golubovic2019").name == "golubovic2019"
    assert get_model("dewit2016", drug="everolimus").drug == "everolimus"
    with pytest.raises(PkdoseError, match="is for everolimus, not sirolimus"):
        get_model("dewit2016", drug="sirolimus")
    with pytest.raises(PkdoseError, match="give a model name or a drug"):
        get_model()
    with pytest.raises(PkdoseError, match="no model for drug"):
        get_model(drug="tacrolimus")


def test_unknown_model_name_lists_the_models(models):
    with pytest.raises(PkdoseError, match="unknown model 'wu2013'") as err:
        get_model("wu2013")
    for name in models:
        assert name in str(err.value)


def user_copy(tmp_path: Path, source: str = "wu2012_sirolimus.toml",
              edit=lambda text: text, filename: str = "my_model.toml") -> Path:
    """A user's model file: a shipped file, renamed, with ``edit`` applied to its text."""
    text = (MODEL_DIR / source).read_text(encoding="utf-8")
    name = tomllib.loads(text)["model"]["name"]
    text = text.replace(f'name = "{name}"', 'name = "my_model"', 1)
    path = tmp_path / filename
    path.write_text(edit(text), encoding="utf-8")
    return path


def test_get_model_loads_a_user_file_by_path(tmp_path, models):
    path = user_copy(tmp_path)
    m = get_model(str(path))
    assert m.name == "my_model" and m.path == str(path)
    assert m.parameters == models["wu2012"].parameters
    assert m.effects == models["wu2012"].effects
    # An existing file is found by path even without the .toml suffix.
    bare = path.rename(tmp_path / "my_model_file")
    assert get_model(str(bare)).name == "my_model"
    with pytest.raises(PkdoseError, match="not found"):
        get_model(str(tmp_path / "missing.toml"))


def replace_iiv_omega(text: str, omega: str) -> str:
    """``text`` with the first (the [iiv]) omega matrix replaced."""
    new, n = re.subn(r"omega = \[.*?\n\]", f"omega = {omega}", text, count=1, flags=re.S)
    assert n == 1
    return new


MALFORMED = {
    "missing [structure]": (lambda t: t.replace("[structure]", "[structure_x]"),
                            "no \\[structure\\] table"),
    "bad absorption": (lambda t: t.replace('"michaelis_menten"', '"zero_order"'),
                       "absorption must be one of"),
    "missing required parameter": (
        lambda t: "\n".join(ln for ln in t.splitlines() if not ln.startswith("vm =")),
        "michaelis_menten needs parameter\\(s\\) vm"),
    # Symmetric, but the CL-V1 block has a negative eigenvalue (correlation 2).
    "non-PSD omega": (lambda t: replace_iiv_omega(t, "[[0.2, 0.4, 0, 0], [0.4, 0.2, 0, 0], "
                                                     "[0, 0, 0.4, 0], [0, 0, 0, 0.04]]"),
                      "positive semi-definite"),
    "ragged omega": (lambda t: replace_iiv_omega(t, "[[0.2, 0, 0, 0], [0, 0.2], "
                                                    "[0, 0, 0.4, 0], [0, 0, 0, 0.04]]"),
                     "omega must be 4x4"),
    "invalid TOML": (lambda t: t + "\n[broken\n", "invalid TOML"),
    "non-numeric value": (lambda t: t.replace("value = 12.9", 'value = "12.9"'),
                          "must be a number"),
    "negative value": (lambda t: t.replace("value = 12.9", "value = -12.9"),
                       "must be positive"),
    "unknown covariate": (lambda t: t.replace('covariate = "hct_pct"', 'covariate = "hct"'),
                          "unknown covariate 'hct'"),
    "effect without exponent": (lambda t: t.replace("exponent = -0.14", ""),
                                "needs exponent"),
    "unknown effect form": (lambda t: t.replace('form = "power"', 'form = "emax"'),
                            "unknown covariate effect form 'emax'"),
    "missing model name": (lambda t: t.replace('name = "my_model"', ""), "needs name"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_model_files_raise_pkdose_error_naming_the_file(tmp_path, case):
    edit, message = MALFORMED[case]
    path = user_copy(tmp_path, edit=edit)
    with pytest.raises(PkdoseError, match=message) as err:
        get_model(str(path))
    assert str(path) in str(err.value)


# ------------------------------------------------------------------------ covariate table


def test_covariate_table_defaults_to_the_typical_subject():
    cov = covariate_table()
    assert len(cov) == 1
    for key, value in default_subject().items():
        assert cov[key][0] == value, key
    assert cov["bsa_m2"][0] == pytest.approx(math.sqrt(180 * 70 / 3600))  # Mosteller
    assert len(covariate_table({"weight_kg": 80}, n=3)) == 3


def test_covariate_table_fills_missing_columns_and_keeps_given_ones():
    df = pd.DataFrame({" Weight_KG ": [50, 90], "ffm_kg": [40.0, 60.0]})
    cov = covariate_table(df)
    assert list(cov["weight_kg"]) == [50.0, 90.0]  # names are case and space insensitive
    assert list(cov["ffm_kg"]) == [40.0, 60.0]  # a given FFM is not re-derived
    assert list(cov["hct_pct"]) == [44.0, 44.0]
    assert set(COVARIATES) <= set(cov.columns)


def test_unknown_covariate_is_an_error_listing_the_known_ones():
    with pytest.raises(PkdoseError, match="unknown covariate\\(s\\) haemoglobin") as err:
        covariate_table({"haemoglobin": 40})
    assert "hct_pct" in str(err.value)


@pytest.mark.parametrize(("key", "value"), [
    ("weight_kg", 0), ("hct_pct", 120), ("hct_pct", 0.44), ("age_y", -1),
    ("weight_kg", float("nan")), ("height_cm", 1000),
])
def test_implausible_covariates_are_errors(key, value):
    with pytest.raises(PkdoseError, match=f"covariate {key}="):
        covariate_table({key: value})


def test_non_numeric_covariate_is_an_error():
    with pytest.raises(PkdoseError, match="weight_kg must be numeric"):
        covariate_table({"weight_kg": "heavy"})


@pytest.mark.parametrize(("given_sex", "sex"), [
    ("M", "male"), ("m", "male"), (" Male ", "male"), ("0", "male"),
    ("F", "female"), ("FEMALE", "female"), ("1", "female"),
])
def test_sex_aliases(given_sex, sex):
    assert covariate_table({"sex": given_sex})["sex"][0] == sex


def test_unknown_sex_is_an_error():
    with pytest.raises(PkdoseError, match="sex must be male or female"):
        covariate_table({"sex": "x"})


# ---------------------------------------------------------------------------- the docs


def test_models_doc_is_up_to_date(gen):
    assert DOC.read_text(encoding="utf-8") == gen.render(), (
        "docs/models.md is stale; run python scripts/gen_model_docs.py")
    assert gen.main(["--check"]) == 0


def test_doc_check_fails_on_a_stale_page(gen, tmp_path, capsys):
    stale = tmp_path / "models.md"
    stale.write_text(gen.render().replace("12.9", "13.9"), encoding="utf-8")
    assert gen.main(["--check", "--output", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert gen.main(["--output", str(stale)]) == 0 and gen.main(
        ["--check", "--output", str(stale)]) == 0


def test_doc_compares_each_terminal_half_life_with_the_label(gen, models):
    text = gen.render()
    for m in models.values():
        assert f"## `{m.name}`:" in text
        # A paediatric model is evaluated at its own reference child (16 kg for Fan 2024).
        sentence = gen.half_life_sentence(m, terminal_half_life(m.name,
                                                                **(gen.reference_child(m) or {})))
        assert sentence in text
    assert "shorter than the Rapamune label" in gen.half_life_sentence(models["wu2012"], 50.6)
    assert "longer than the Rapamune label" in gen.half_life_sentence(
        models["golubovic2019"], 151.0)
    assert "inside O'Donnell 2008's range" in gen.half_life_sentence(models["dewit2016"], 30.0)


def test_every_model_pickles_to_an_equal_read_only_model():
    # Worker processes and Dask receive models pickled (docs/population.md).
    import pickle
    from types import MappingProxyType

    models = builtin_models(species=None)
    assert len(models) > len(builtin_models())  # the species models are included
    for name, m in models.items():
        back = pickle.loads(pickle.dumps(m))
        assert back == m, name
        assert isinstance(back.parameters, MappingProxyType)
    nested = pickle.loads(pickle.dumps(models["mouse_diet"])).uncertainty["cl"]
    assert isinstance(nested, MappingProxyType)  # read-only all the way down


def test_one_covariate_vocabulary_full_and_short_names():
    from pkdose.model import covariate_table, parse_covariates

    short = covariate_table({"weight": 82, "hct": 41, "age": 67})
    full = covariate_table({"weight_kg": 82, "hct_pct": 41, "age_y": 67})
    pd.testing.assert_frame_equal(short, full)
    assert parse_covariates(["weight=82", "Haematocrit=41"]) == {"weight_kg": "82",
                                                                 "hct_pct": "41"}
    with pytest.raises(PkdoseError, match="twice"):
        covariate_table({"weight": 82, "weight_kg": 80})


def test_fractions_of_the_dose_stay_below_one_and_may_be_logit_normal(tmp_path):
    # fr_zo (parallel zero-/first-order absorption) is a fraction: its file value and any
    # override must be below 1, and logit-normal variability keeps every subject in (0, 1)
    # with the typical value at eta = 0 (P_i = expit(logit(P) + eta)).
    text = """
[model]
name = "split"
drug = "everolimus"
[structure]
absorption = "parallel_zero_first_order"
disposition = 1
[parameters]
ka = { value = 2.0, unit = "1/h" }
fr_zo = { value = 0.62, unit = "1" }
tk0 = { value = 1.1, unit = "h" }
cl = { value = 7.0, unit = "L/h" }
v1 = { value = 50.0, unit = "L" }
[iiv]
parameters = ["fr_zo"]
logit = ["fr_zo"]
omega = [[0.5776]]
"""
    path = tmp_path / "split.toml"
    path.write_text(text)
    m = get_model(str(path))
    assert m.n_chain == 1 and m.iiv.logit == ("fr_zo",)
    eta = np.array([[-40.0], [-1.0], [0.0], [1.0], [40.0]])
    fr = individual_parameters(m, covariate_table(n=5), eta)["fr_zo"]
    expit = 1.0 / (1.0 + np.exp(-(math.log(0.62 / 0.38) + eta[:, 0])))
    np.testing.assert_allclose(fr, expit, rtol=1e-14)
    assert fr[2] == 0.62 and np.all((fr >= 0) & (fr <= 1))
    with pytest.raises(PkdoseError, match="fraction of the dose and must be below 1"):
        m.with_params(fr_zo=1.2)
    path.write_text(text.replace("value = 0.62", "value = 1.0"))
    with pytest.raises(PkdoseError, match="must be below 1"):
        get_model(str(path))
    path.write_text(text.replace('logit = ["fr_zo"]', 'logit = ["ka"]'))
    with pytest.raises(PkdoseError, match="logit must list fractions"):
        get_model(str(path))
