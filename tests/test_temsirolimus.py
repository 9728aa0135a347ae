"""Temsirolimus IV -> sirolimus (pkdose/models/torisel2007_temsirolimus.toml, pkdose.metabolite).

Tolerances, fixed before comparing:

* exact solution vs a tight ODE solution (solve_ivp Radau, rtol 1e-10, atol 1e-14, solved
  piecewise between infusion starts and ends): 1e-8 of the curve's maximum;
* exact solution vs hand-computable closed forms: 1e-12 relative;
* model vs the label numbers it was derived from: 0.1 % (the TOML stores 5 significant
  digits), except rounded label values checked as given;
* interaction checks that are not inputs (AUCsum): stated at each test.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import pkdose
from pkdose import metabolite
from pkdose.errors import PkdoseError
from pkdose.model import get_model
from pkdose.regimen import DoseTrain
from pkdose.simulation import prepare, simulate

LABEL = {"dose_mg": 25.0, "cmax": 585.0, "auc": 1627.0, "t_half": 17.3, "vss": 172.0,
         "auc_ratio": 2.7, "t_half_m": 54.6}


@pytest.fixture(scope="module")
def model():
    return get_model("torisel2007")


def _chain(model, **over):
    p = {k: np.array([over.get(k, model.typical(k))]) for k in model.parameters}
    return metabolite.build_chain(p, model.metabolite_ratio)


def _ode(ch, train, dur, times):
    """Reference: the state equations integrated between input switches."""
    a = metabolite.chain_matrix(ch)[0]
    starts = [train.t0_h + k * train.ii_h for k in range(int(train.n))]
    edges = sorted({0.0, float(times[-1]), *starts, *(s + dur for s in starts)})
    x, out = np.zeros(a.shape[0]), np.zeros((a.shape[0], times.size))
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        rate = train.amount / dur if any(s <= lo < s + dur - 1e-12 for s in starts) else 0.0
        u = np.zeros(a.shape[0])
        u[0] = rate
        inside = (times >= lo) & (times <= hi)
        sol = solve_ivp(lambda t, y, u=u: a @ y + u, (lo, hi), x, method="Radau",
                        rtol=1e-10, atol=1e-14, dense_output=True)
        out[:, inside] = sol.sol(times[inside])
        x = sol.sol(hi)
    return out


@pytest.mark.parametrize("dur", [0.5, 1.0])
def test_train_matches_a_tight_ode_solution(model, dur):
    ch = _chain(model)
    train = DoseTrain(0.0, 168.0, 4, 25.0, "mg", "infusion", dur)
    t = np.concatenate([np.linspace(0.0, 2.0, 41), np.linspace(2.0, 800.0, 400)[1:],
                        [336.25, 336.5, 504.75]])
    t.sort()
    parent, met = metabolite.train_amounts(ch, train, np.array([25.0]), t, dur)
    ref = _ode(ch, train, dur, t)
    assert np.max(np.abs(parent[0] - ref[0])) <= 1e-8 * parent.max()
    assert np.max(np.abs(met[0] - ref[-1])) <= 1e-8 * met.max()


def test_steady_state_is_the_limit_of_a_long_train(model):
    ch = _chain(model)
    t = np.linspace(0.0, 168.0, 337)
    endless = DoseTrain(0.0, 168.0, math.inf, 25.0, "mg", "infusion", 0.5)
    ss = metabolite.train_amounts(ch, endless, np.array([25.0]), t, 0.5, steady_state=True)
    # 60 weeks: the slowest mode (54.6 h) has decayed by exp(-60 * 168 ln2 / 54.6) ~ 1e-56.
    long = DoseTrain(0.0, 168.0, 61, 25.0, "mg", "infusion", 0.5)
    last = metabolite.train_amounts(ch, long, np.array([25.0]), t + 60 * 168.0, 0.5)
    for a, b in zip(ss, last, strict=True):
        assert np.max(np.abs(a - b)) <= 1e-9 * b.max()


def test_bolus_into_one_compartment_parent_is_the_textbook_bateman_curve():
    # Parent 1 compartment (k = cl/v1), metabolite km; bolus D at 0:
    # M(t) = ratio k D (exp(-k t) - exp(-km t)) / (km - k), and ratio k D t exp(-k t) at km = k.
    t = np.array([0.0, 0.5, 3.0, 24.0, 200.0])
    for cl_m in (2.0, 5.0):  # k = 0.5/h; km = 0.2/h, then km = k exactly
        p = {"cl": np.array([5.0]), "v1": np.array([10.0]), "cl_m": np.array([cl_m]),
             "v_m": np.array([10.0])}
        ch = metabolite.build_chain(p, 0.9)
        parent, met = metabolite.train_amounts(ch, DoseTrain(0.0, 0.0, 1, 3.0), np.array([3.0]),
                                               t, 0.0)
        k, km = 0.5, cl_m / 10.0
        expect = (0.9 * k * 3.0 * t * np.exp(-k * t) if km == k
                  else 0.9 * k * 3.0 * (np.exp(-k * t) - np.exp(-km * t)) / (km - k))
        np.testing.assert_allclose(parent[0], 3.0 * np.exp(-k * t), rtol=1e-12)
        np.testing.assert_allclose(met[0], expect, rtol=1e-12, atol=1e-300)


def test_shipped_values_are_the_derivation_from_the_label(model):
    sys.path.insert(0, "scripts")
    try:
        from derive_temsirolimus import derive
    finally:
        sys.path.remove("scripts")
    for key, value in derive().items():
        assert model.typical(key) == pytest.approx(value, rel=1e-4), key
    assert model.metabolite_ratio == pytest.approx(914.2 / 1030.30, rel=1e-5)


def test_typical_subject_reproduces_each_label_number(model):
    prep = prepare(model)
    ch = metabolite.build_chain(prep.params, model.metabolite_ratio)
    lam = ch.parent.lam[0]
    assert math.log(2) / lam[-1] == pytest.approx(LABEL["t_half"], rel=1e-3)
    assert math.log(2) / ch.km[0] == pytest.approx(LABEL["t_half_m"], rel=1e-3)
    assert model.typical("v1") + model.typical("v2") == pytest.approx(LABEL["vss"], rel=1e-3)
    curve = simulate("temsirolimus 25 mg iv over 30 min once", until_h=4000.0, step_h=0.05)
    parent, met = curve["temsirolimus_ng_ml"].to_numpy(), curve["conc_ng_ml"].to_numpy()
    t = curve["time_h"].to_numpy()
    assert parent.max() == pytest.approx(LABEL["cmax"], rel=1e-3)
    assert t[np.argmax(parent)] == pytest.approx(0.5)  # Cmax at the end of the infusion
    auc_p, auc_m = np.trapezoid(parent, t), np.trapezoid(met, t)
    assert auc_p == pytest.approx(LABEL["auc"], rel=1e-3)
    assert auc_m / auc_p == pytest.approx(LABEL["auc_ratio"], rel=1e-3)


def test_weekly_sirolimus_auc_from_compare_is_the_label_single_dose_auc():
    # Linear model: AUC over a steady-state week = single-dose AUC to infinity.
    row = pkdose.compare(["temsirolimus 25 mg iv weekly"], spread=False).to_frame().iloc[0]
    assert row["auc168_ng_h_ml"] == pytest.approx(LABEL["auc_ratio"] * LABEL["auc"], rel=1e-3)


def test_ketoconazole_and_rifampin_rows():
    rows = {}
    for comed in ("", "ketoconazole", "rifampin"):
        prep = prepare(get_model("torisel2007"), with_=comed or ())
        rows[comed] = (25.0 * 1000 / prep.params["cl"][0],
                       prep.params["cl_m"][0])
    base_p, base_clm = rows[""]
    auc_m = LABEL["auc_ratio"] * LABEL["auc"]
    for comed, sirolimus_ratio, aucsum_ratio, tol in (
            # AUCsum is a check, not an input. Ketoconazole: the study was at 5 mg in healthy
            # adults, where sirolimus' share of AUCsum differs from the label's 25 mg one; the
            # model gives 2.53 against 2.3 (a known discrepancy, docs/temsirolimus.md), held
            # within 12 %. Rifampin: reported -41 %, held within 3 %.
            ("ketoconazole", 3.1, 2.3, 0.12), ("rifampin", 0.44, 0.59, 0.03)):
        p_auc, clm = rows[comed]
        assert p_auc == pytest.approx(base_p, rel=1e-12)  # temsirolimus unchanged
        assert base_clm / clm == pytest.approx(sirolimus_ratio, rel=1e-12)
        aucsum = (LABEL["auc"] + auc_m * base_clm / clm) / (LABEL["auc"] + auc_m)
        assert aucsum == pytest.approx(aucsum_ratio, rel=tol), comed


@pytest.mark.parametrize("text, words", [
    ("temsirolimus 25 mg weekly", "intravenous infusion only"),
    ("sirolimus 5 mg iv weekly", "oral dosing only"),
    ("temsirolimus 25 mg iv over 2 h every 1 h", "longer than the dosing interval"),
])
def test_clear_errors(text, words):
    with pytest.raises(PkdoseError, match=words):
        simulate(text, until_h=48.0)


def test_cli_compare_prints_both_and_says_the_row_is_sirolimus():
    out = subprocess.run([sys.executable, "-m", "pkdose", "compare",
                          "temsirolimus 25 mg iv weekly", "sirolimus 6 mg weekly"],
                         capture_output=True, text=True, check=True)
    assert "temsirolimus 25 mg weekly iv" in out.stdout and "sirolimus 6 mg weekly" in out.stdout
    assert "every metric is of whole-blood sirolimus" in out.stdout
    assert "infused over 30 min" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "pkdose", "compare", "temsirolimus 25 mg weekly"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) <= 2  # the notice and one error line


def test_population_intervals_vary_sirolimus():
    res = pkdose.simulate("temsirolimus 25 mg iv weekly", n=200, seed=1, until_h=336.0,
                          output="array")
    peak = res.max(axis=1)
    assert np.all(np.isfinite(res)) and np.all(res >= 0)
    assert np.std(np.log(peak)) > 0.1  # cl_m carries between-subject variability
