"""Specification of pkdose.exposure: analytic profiles where every metric is known exactly."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pkdose import exposure as ex
from pkdose.errors import PkdoseError

ROOT = Path(__file__).resolve().parents[1]


def grid(length_h: float, step_h: float) -> np.ndarray:
    return np.linspace(0.0, length_h, int(round(length_h / step_h)) + 1)


def iv_bolus_ss(t, c0, k, tau):
    """One-compartment IV bolus at steady state on [0, tau]; t = 0 is just after the dose."""
    return c0 * np.exp(-k * t) / (1.0 - np.exp(-k * tau))


def oral_single_dose(t, a, ka, k):
    """One-compartment first-order absorption after one dose: a (e^-kt - e^-ka t)."""
    return a * (np.exp(-k * t) - np.exp(-ka * t))


# --------------------------------------------------------------------------- registry


def test_registry_names_units_and_columns():
    assert list(ex.METRICS) == ["Cmax", "Tmax", "Ctrough", "Cmin", "Cavg", "AUCtau", "AUC168",
                                "Tabove", "Tbelow_longest", "PTF", "Swing", "Rac", "T90ss"]
    units = {"ng/mL", "h", "ng*h/mL", "%", "ratio"}
    columns = [m.column for m in ex.METRICS.values()]
    assert len(set(columns)) == len(columns)
    for name, m in ex.METRICS.items():
        assert m.name == name
        assert m.unit in units
        assert re.fullmatch(r"[a-z0-9_{}x]+", m.column), m.column
        assert m.definition.endswith(".") and m.definition.count(". ") == 0, m.definition
        # PPTESTCD: at most 8 characters, letters, digits, underscore, no leading digit.
        assert m.cdisc is None or re.fullmatch(r"[A-Z][A-Z0-9_]{0,7}", m.cdisc)
    assert ex.METRICS["PTF"].cdisc == "FLUCP"
    assert ex.METRICS["AUC168"].cdisc is None


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        ex.METRICS["Cmax"] = ex.METRICS["Tmax"]  # type: ignore[index]


def test_threshold_columns():
    assert ex.METRICS["Tabove"].column_for(3.0) == "t_above_3_h"
    assert ex.METRICS["Tabove"].column_for(2.5) == "t_above_2p5_h"
    assert ex.METRICS["Tbelow_longest"].column_for(1) == "t_below_1_longest_h"
    assert ex.METRICS["Cmax"].column_for() == "cmax_ng_ml"
    with pytest.raises(PkdoseError):
        ex.METRICS["Tabove"].column_for()
    with pytest.raises(PkdoseError):
        ex.METRICS["Cmax"].column_for(1.0)


def test_metric_table_is_the_registry():
    table = ex.metric_table()
    assert list(table.columns) == ["name", "cdisc", "unit", "definition", "column"]
    assert table["name"].tolist() == list(ex.METRICS)
    assert table["column"].tolist() == [m.column for m in ex.METRICS.values()]


def test_committed_doc_matches_registry():
    spec = importlib.util.spec_from_file_location("gen_metrics_doc",
                                                  ROOT / "scripts" / "gen_metrics_doc.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    doc = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert gen.update(doc) == doc, "run: python scripts/gen_metrics_doc.py"


# --------------------------------------------------------------------------- analytic cases


K, TAU, C0 = 0.1, 24.0, 10.0
CMAX_SS = C0 / (1.0 - math.exp(-K * TAU))
CTROUGH_SS = CMAX_SS * math.exp(-K * TAU)


def test_iv_bolus_steady_state_every_metric():
    t = grid(TAU, 0.05)
    m = ex.interval_metrics(t, iv_bolus_ss(t, C0, K, TAU), above=(1.0, 3.0, 4.0, 20.0, 0.5),
                            below=(1.0, 3.0, 4.0, 0.5))
    auc = C0 / K  # (C0 / (k (1 - e^-k tau))) (1 - e^-k tau)
    assert m["cmax_ng_ml"] == pytest.approx(CMAX_SS, rel=1e-15)
    assert m["tmax_h"] == 0.0
    assert m["ctrough_ng_ml"] == pytest.approx(CTROUGH_SS, rel=1e-15)
    assert m["cmin_ng_ml"] == pytest.approx(CTROUGH_SS, rel=1e-15)
    assert m["auctau_ng_h_ml"] == pytest.approx(auc, rel=1e-10)
    assert m["cavg_ng_ml"] == pytest.approx(auc / TAU, rel=1e-10)
    assert m["auc168_ng_h_ml"] == pytest.approx(auc / TAU * 168.0, rel=1e-10)
    assert m["ptf_pct"] == pytest.approx(100 * (CMAX_SS - CTROUGH_SS) / (auc / TAU), rel=1e-10)
    assert m["swing"] == pytest.approx((CMAX_SS - CTROUGH_SS) / CTROUGH_SS, rel=1e-13)
    # C > x for t < ln(Cmax / x) / k; linear interpolation of the crossing is O(h^2):
    # error <= h^2 |C''| / (8 |C'|) = h^2 k / 8.
    tol = 0.05**2 * K / 8
    for x in (1.0, 3.0, 4.0):
        assert m[f"t_above_{x:g}_h"] == pytest.approx(math.log(CMAX_SS / x) / K, abs=tol)
        # One run below x, from the crossing to the end; the start (just after the dose)
        # is above x, so the wrap-around does not extend it.
        if x > CTROUGH_SS:
            assert m[f"t_below_{x:g}_longest_h"] == pytest.approx(
                TAU - math.log(CMAX_SS / x) / K, abs=tol)
    assert m["t_above_20_h"] == 0.0  # never reached
    assert m["t_above_0p5_h"] == TAU  # always above
    assert m["t_below_0p5_longest_h"] == 0.0


def test_first_interval_and_accumulation_ratio():
    t = grid(TAU, 0.05)
    first = ex.interval_metrics(t, C0 * np.exp(-K * t), above=(), below=(), periodic=False)
    ss = ex.interval_metrics(t, iv_bolus_ss(t, C0, K, TAU), above=(), below=())
    rac = ex.accumulation_ratio(first["auctau_ng_h_ml"], ss["auctau_ng_h_ml"])
    assert rac == pytest.approx(1.0 / (1.0 - math.exp(-K * TAU)), rel=1e-10)
    assert first["ctrough_ng_ml"] == pytest.approx(C0 * math.exp(-K * TAU), rel=1e-15)


def test_accumulation_ratio_zero_policy_and_errors():
    r = ex.accumulation_ratio([2.0, 0.0, 0.0], [3.0, 5.0, 0.0])
    assert r[0] == 1.5 and np.isinf(r[1]) and np.isnan(r[2])
    for bad in ([np.nan], [-1.0], [np.inf]):
        with pytest.raises(PkdoseError):
            ex.accumulation_ratio(bad, [1.0])
    with pytest.raises(PkdoseError):
        ex.accumulation_ratio([1.0, 2.0], [1.0, 2.0, 3.0])


def test_time_to_90_percent_of_steady_state():
    # Repeated IV boluses: Cavg of interval i (from 0) is Cavg_ss (1 - e^{-k (i+1) tau}),
    # so 90% is first reached by the interval i = ceil(ln 10 / (k tau)) - 1.
    tau, n_int = 12.0, 40
    k = np.array([0.02, 0.05, 0.2])
    starts = tau * np.arange(n_int)
    cavg_ss = 10.0 / (k * tau)
    cavg = cavg_ss[:, None] * (1.0 - np.exp(-np.outer(k, starts + tau)))
    got = ex.time_to_fraction_of_ss(starts, cavg, cavg_ss)
    want = tau * (np.ceil(np.log(10.0) / (k * tau)) - 1.0)
    np.testing.assert_array_equal(got, want)
    # Never reached within the intervals given -> NaN; one profile -> a 0-d result.
    assert np.isnan(ex.time_to_fraction_of_ss(starts[:3], cavg[0, :3], cavg_ss[0]))
    assert ex.time_to_fraction_of_ss(starts, cavg[2], cavg_ss[2], fraction=0.5) == 0.0
    assert np.isnan(ex.time_to_fraction_of_ss(starts, np.zeros(n_int), 0.0))
    with pytest.raises(PkdoseError):
        ex.time_to_fraction_of_ss(starts, cavg, cavg_ss, fraction=0.0)
    with pytest.raises(PkdoseError):
        ex.time_to_fraction_of_ss(starts[::-1], cavg, cavg_ss)
    with pytest.raises(PkdoseError):
        ex.time_to_fraction_of_ss(starts, cavg, cavg_ss[:2])


@pytest.mark.parametrize("period_h", [24.0, 48.0, 168.0])
def test_sinusoid_tmax_refined_to_third_order(period_h):
    # C = 5 + 3 cos(w (t - t*)) has its maximum 8 at t*. For such a symmetric peak the
    # parabola's Tmax error is s w^2 (h^2 - 4 s^2) / 12 with s the grid offset of t*,
    # at most 0.0161 h^3 w^2: 1.10e-6 h for a 24 h period on a 0.1 h grid, < 1e-6 h
    # for periods >= 25.3 h. The grid maximum alone is off by up to h / 2 = 0.05 h.
    h, w = 0.1, 2 * math.pi / period_h
    t = grid(24.0, h)
    bound = 2 / (3 * math.sqrt(12)) / 12 * h**3 * w**2
    worst = 0.0
    for t_star in 9.0 + np.linspace(0.0, h, 41):
        m = ex.interval_metrics(t, 5 + 3 * np.cos(w * (t - t_star)), above=(), below=())
        worst = max(worst, abs(float(m["tmax_h"]) - t_star))
        assert 8.0 - 1e-6 < m["cmax_ng_ml"] <= 8.0 + 1e-12
    assert worst <= 1.01 * bound
    assert worst < 1.2e-6
    if period_h >= 48.0:
        assert worst < 1e-6


def test_oral_single_dose_tmax_cmax():
    # Tmax = ln(ka/k) / (ka - k), Cmax = a e^{-k Tmax} (1 - k/ka).
    a, ka, k = 10.0, 1.5, 0.05
    tmax = math.log(ka / k) / (ka - k)
    cmax = a * math.exp(-k * tmax) * (1 - k / ka)
    f2 = a * (k**2 * math.exp(-k * tmax) - ka**2 * math.exp(-ka * tmax))
    f3 = a * (-(k**3) * math.exp(-k * tmax) + ka**3 * math.exp(-ka * tmax))
    for h in (0.2, 0.1, 0.05):
        t = grid(48.0, h)
        c = oral_single_dose(t, a, ka, k)
        m = ex.interval_metrics(t, c, above=(), below=(), periodic=False)
        # Asymmetric peak: Tmax error <= h^2 |C'''| / (6 |C''|) (second order);
        # Cmax is the quadratic interpolant's value, error <= 0.065 |C'''| h^3.
        assert abs(m["tmax_h"] - tmax) <= h**2 * abs(f3) / (6 * abs(f2))
        assert abs(m["cmax_ng_ml"] - cmax) <= 0.065 * abs(f3) * h**3
        assert abs(m["cmax_ng_ml"] - cmax) < abs(c.max() - cmax) + 1e-15
        assert m["cmax_ng_ml"] >= c.max()
        assert m["ctrough_ng_ml"] == c[-1] and m["cmin_ng_ml"] == 0.0  # pre-dose zero at t=0


@pytest.mark.parametrize("n_intervals", [480, 481])
@pytest.mark.parametrize(("a", "ka", "k"), [(10.0, 1.5, 0.05), (10.0, 0.8, 0.011),
                                            (0.0, 1.0, 0.3)])
def test_simpson_auc_accuracy(n_intervals, a, ka, k):
    # Smooth exponentials on a ~0.05 h grid (24 h): relative AUC error < 1e-8 for an even
    # (Simpson) and an odd (Simpson + 3/8 tail) number of intervals. The error is
    # W h^4 max|C''''| / 180, so it grows with ka^3; see docs/metrics.md.
    t = np.linspace(0.0, 24.0, n_intervals + 1)
    c = oral_single_dose(t, a, ka, k) + 2.0 * np.exp(-k * t)
    exact = (a * ((1 - math.exp(-k * 24)) / k - (1 - math.exp(-ka * 24)) / ka)
             + 2.0 * (1 - math.exp(-k * 24)) / k)
    auc = ex.interval_metrics(t, c, above=(), below=(), periodic=False)["auctau_ng_h_ml"]
    assert abs(auc / exact - 1) < 1e-8


@pytest.mark.parametrize("n_intervals", range(2, 9))
def test_quadrature_is_exact_for_cubics(n_intervals):
    # Simpson and the 3/8 rule integrate cubics exactly, whatever the interval count.
    t = np.linspace(0.0, 3.0, n_intervals + 1)
    auc = ex.interval_metrics(t, 1 + t + t**2 + t**3, above=(), below=(),
                              periodic=False)["auctau_ng_h_ml"]
    assert auc == pytest.approx(3 + 9 / 2 + 27 / 3 + 81 / 4, rel=1e-14)


def test_two_points_use_the_trapezoid():
    m = ex.interval_metrics([0.0, 2.0], [1.0, 3.0], above=(2.0,), below=(2.0,))
    assert m["auctau_ng_h_ml"] == 4.0 and m["cavg_ng_ml"] == 2.0
    assert m["cmax_ng_ml"] == 3.0 and m["tmax_h"] == 2.0
    assert m["t_above_2_h"] == 1.0 and m["t_below_2_longest_h"] == 1.0


def test_window_need_not_start_at_zero():
    t = 100.0 + grid(TAU, 0.05)
    m = ex.interval_metrics(t, iv_bolus_ss(t - 100.0, C0, K, TAU))
    ref = ex.interval_metrics(t - 100.0, iv_bolus_ss(t - 100.0, C0, K, TAU))
    for key in ref:
        assert m[key] == pytest.approx(ref[key], rel=1e-12, abs=1e-12), key


# --------------------------------------------------------------------------- time below


def longest_below_reference(c, x, h, periodic):
    """Plain-loop reference: runs of the linear interpolant below x, joined across the end."""
    runs, cur, open_run = [], 0.0, c[0] < x
    for a, b in zip(c[:-1], c[1:], strict=True):
        if a < x and b < x:
            cur += h
        elif a < x:  # leaves the run inside this interval
            runs.append(cur + h * (x - a) / (b - a))
            cur, open_run = 0.0, False
        elif b < x:  # enters a run inside this interval
            cur, open_run = h * (x - b) / (a - b), True
    if open_run:
        runs.append(cur)
    if not runs:
        return 0.0
    if periodic and c[0] < x and c[-1] < x and len(runs) > 1:
        runs[0] += runs.pop()
    return min(max(runs), h * (len(c) - 1))


def test_longest_below_wraps_around_the_cycle():
    # Below 1 at both ends and in the middle: 2 h at the end + 3 h at the start join into
    # 5 h when periodic; the middle run is 4 h.
    t = grid(24.0, 1.0)
    c = np.full(t.size, 5.0)
    c[t <= 3] = 0.5
    c[(t >= 10) & (t <= 14)] = 0.5
    c[t >= 22] = 0.5
    per = ex.interval_metrics(t, c, above=(), below=(1.0,))["t_below_1_longest_h"]
    lin = ex.interval_metrics(t, c, above=(), below=(1.0,), periodic=False)
    # Each run also gains the part of the neighbouring intervals before the crossing.
    edge = (1.0 - 0.5) / (5.0 - 0.5)
    assert per == pytest.approx(2 + 3 + 2 * edge)
    assert lin["t_below_1_longest_h"] == pytest.approx(4 + 2 * edge)
    assert per == pytest.approx(longest_below_reference(c, 1.0, 1.0, True))


def test_longest_below_whole_window_and_never():
    t = grid(12.0, 0.5)
    m = ex.interval_metrics(t, np.full(t.size, 0.2), above=(1.0,), below=(1.0, 0.1))
    assert m["t_below_1_longest_h"] == 12.0 and m["t_above_1_h"] == 0.0
    assert m["t_below_0p1_longest_h"] == 0.0


def test_longest_below_rows_that_never_dip_are_zero_and_the_rest_as_alone():
    # Profiles that stay above x skip the run bookkeeping; those that dip get the same
    # bits as when computed on their own, and match the plain-loop reference.
    t = grid(24.0, 0.25)
    rng = np.random.default_rng(7)
    levels = rng.uniform(0.4, 3.0, 12)
    c = levels[:, None] * (1.0 + 0.6 * np.cos(2 * np.pi * t / 24.0))[None, :]
    dips = (c < 1.0).any(axis=1)
    assert 0 < dips.sum() < c.shape[0]
    together = ex.interval_metrics(t, c, above=(), below=(1.0,))["t_below_1_longest_h"]
    assert np.all(together[~dips] == 0.0)
    for i in np.flatnonzero(dips):
        alone = ex.interval_metrics(t, c[i], above=(), below=(1.0,))["t_below_1_longest_h"]
        assert together[i] == alone
        assert alone == pytest.approx(longest_below_reference(c[i], 1.0, 0.25, True),
                                      rel=1e-12)


# --------------------------------------------------------------------------- vectorisation


def test_three_subjects_equal_one_at_a_time():
    t = grid(TAU, 0.1)
    profiles = np.stack([
        iv_bolus_ss(t, C0, K, TAU),
        oral_single_dose(t, 12.0, 1.2, 0.04) + 0.3,
        5 + 3 * np.sin(2 * math.pi * t / 24.0),
    ])
    together = ex.interval_metrics(t, profiles, above=(1.0, 4.0), below=(1.0, 3.0))
    for i, c in enumerate(profiles):
        alone = ex.interval_metrics(t, c, above=(1.0, 4.0), below=(1.0, 3.0))
        assert together.keys() == alone.keys()
        for key, val in alone.items():
            assert val.shape == () and together[key].shape == (3,)
            assert together[key][i] == pytest.approx(val, rel=1e-14, abs=1e-14), key


def test_metrics_frame():
    t = grid(TAU, 0.1)
    profiles = np.stack([iv_bolus_ss(t, C0, k, TAU) for k in (0.05, 0.1)])
    vals = ex.interval_metrics(t, profiles)
    vals["rac"] = ex.accumulation_ratio([1.0, 2.0], vals["auctau_ng_h_ml"])
    df = ex.metrics_frame(vals, index=["a", "b"])
    assert list(df.columns) == list(vals)
    assert list(df.index) == ["a", "b"]
    assert df.loc["b", "cmax_ng_ml"] == vals["cmax_ng_ml"][1]
    one = ex.metrics_frame(ex.interval_metrics(t, profiles[0]))
    assert one.shape[0] == 1 and one.index.name == "subject"
    assert isinstance(one, pd.DataFrame)
    with pytest.raises(PkdoseError, match="unknown metric column"):
        ex.metrics_frame({"cmax": [1.0]})
    with pytest.raises(PkdoseError):
        ex.metrics_frame({"cmax_ng_ml": [1.0, 2.0], "tmax_h": [1.0]})
    with pytest.raises(PkdoseError):
        ex.metrics_frame({"cmax_ng_ml": [1.0, 2.0]}, index=["a"])


# --------------------------------------------------------------------------- edge cases


def test_all_zero_profile():
    t = grid(24.0, 0.5)
    m = ex.interval_metrics(t, np.zeros((2, t.size)))
    for key in ("cmax_ng_ml", "tmax_h", "ctrough_ng_ml", "cmin_ng_ml", "cavg_ng_ml",
                "auctau_ng_h_ml", "auc168_ng_h_ml", "t_above_1_h"):
        np.testing.assert_array_equal(m[key], 0.0)
    np.testing.assert_array_equal(m["t_below_1_longest_h"], 24.0)
    assert np.isnan(m["ptf_pct"]).all() and np.isnan(m["swing"]).all()


def test_constant_profile():
    t = grid(24.0, 0.5)
    m = ex.interval_metrics(t, np.full(t.size, 4.0), above=(3.0, 4.0, 5.0), below=(4.0, 5.0))
    assert m["cmax_ng_ml"] == m["cmin_ng_ml"] == m["ctrough_ng_ml"] == m["cavg_ng_ml"] == 4.0
    assert m["tmax_h"] == 0.0 and m["ptf_pct"] == 0.0 and m["swing"] == 0.0
    # Above is C > x and below is C < x: a profile exactly at x is neither.
    assert m["t_above_3_h"] == 24.0 and m["t_above_4_h"] == 0.0 and m["t_above_5_h"] == 0.0
    assert m["t_below_4_longest_h"] == 0.0 and m["t_below_5_longest_h"] == 24.0


def test_swing_is_inf_when_cmin_is_zero():
    t = grid(24.0, 0.5)
    m = ex.interval_metrics(t, oral_single_dose(t, 10.0, 1.0, 0.1), periodic=False)
    assert m["cmin_ng_ml"] == 0.0 and np.isinf(m["swing"]) and np.isfinite(m["ptf_pct"])


def test_tiny_negative_round_off_is_clipped():
    t = grid(4.0, 0.5)
    c = np.array([-1e-14, 1.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.05, -5e-13])
    m = ex.interval_metrics(t, c)
    assert m["cmin_ng_ml"] == 0.0 and m["ctrough_ng_ml"] == 0.0


def test_interior_minimum_is_refined_and_stays_non_negative():
    t = grid(4.0, 1.0)
    m = ex.interval_metrics(t, [4.0, 2.0, 1.0, 2.0, 4.0])
    assert m["cmin_ng_ml"] == 1.0  # symmetric: the vertex is on the grid
    m = ex.interval_metrics(t, [4.0, 2.0, 0.0, 0.5, 4.0])
    assert m["cmin_ng_ml"] == 0.0  # the parabola dips below 0; concentrations cannot
    # samples of (t - 2.25)^2 + 1: the vertex between grid points is found exactly
    m = ex.interval_metrics(t, [(x - 2.25) ** 2 + 1.0 for x in t])
    assert m["cmin_ng_ml"] == pytest.approx(1.0)


def test_a_trough_at_a_dose_is_not_smoothed_below_the_lowest_level():
    # slow decay to 2.8 at the dose, then absorption: a kink, not a smooth minimum. A
    # parabola through the three points around it would report 2.44.
    t = grid(4.0, 1.0)
    m = ex.interval_metrics(t, [3.0, 2.9, 2.8, 6.0, 8.0])
    assert m["cmin_ng_ml"] == 2.8


def test_an_iv_bolus_peak_is_not_smoothed_above_the_highest_level():
    t = grid(4.0, 1.0)
    m = ex.interval_metrics(t, [0.1, 0.1, 10.0, 9.0, 8.1])
    assert m["cmax_ng_ml"] == 10.0
    assert m["tmax_h"] == 2.0


@pytest.mark.parametrize(("time_h", "conc", "match"), [
    ([0.0], [1.0], "at least"),
    ([], [], "at least"),
    ([0.0, 1.0, 2.5], [1.0, 2.0, 3.0], "uniformly spaced"),
    ([2.0, 1.0, 0.0], [1.0, 2.0, 3.0], "strictly increasing"),
    ([0.0, 1.0, 1.0], [1.0, 2.0, 3.0], "strictly increasing"),
    ([0.0, np.nan, 2.0], [1.0, 2.0, 3.0], "NaN"),
    ([[0.0, 1.0]], [1.0, 2.0], "1-D"),
    ([0.0, 1.0, 2.0], [1.0, np.nan, 3.0], "NaN"),
    ([0.0, 1.0, 2.0], [[1.0, 2.0, 3.0], [1.0, 2.0, np.inf]], r"index \(1, 2\)"),
    ([0.0, 1.0, 2.0], [1.0, -1e-9, 3.0], "negative"),
    ([0.0, 1.0, 2.0], [1.0, 2.0], "shape"),
    ([0.0, 1.0, 2.0], np.ones((2, 2, 3)), "shape"),
    ([0.0, 1.0, 2.0], ["a", "b", "c"], "concentrations"),
])
def test_invalid_input_raises_pkdose_error(time_h, conc, match):
    with pytest.raises(PkdoseError, match=match) as info:
        ex.interval_metrics(time_h, conc)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("above", "below"), [
    ((-1.0,), ()), ((np.nan,), ()), ((), (1.0, 1.0)), ((), ((1.0, 2.0), (3.0, 4.0))),
])
def test_invalid_thresholds_raise_pkdose_error(above, below):
    with pytest.raises(PkdoseError):
        ex.interval_metrics([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], above=above, below=below)


# --------------------------------------------------------------------------- properties


profiles = st.integers(2, 40).flatmap(
    lambda n: arrays(np.float64, (2, n), elements=st.floats(0.0, 100.0, width=32)))
steps = st.sampled_from([0.05, 0.1, 0.25, 1.0])


@settings(max_examples=80, deadline=None)
@given(profiles, steps, st.integers(-8, 8))
def test_scaling_concentration(conc, h, power):
    # Scaling by a power of 2 is exact in floating point, so argmax/argmin cannot change.
    c = 2.0**power
    t = h * np.arange(conc.shape[1])
    base = ex.interval_metrics(t, conc, above=(), below=())
    scaled = ex.interval_metrics(t, c * conc, above=(), below=())
    for key in ("cmax_ng_ml", "cmin_ng_ml", "ctrough_ng_ml", "auctau_ng_h_ml", "cavg_ng_ml"):
        np.testing.assert_allclose(scaled[key], c * base[key], rtol=1e-12, atol=0)
    np.testing.assert_allclose(scaled["tmax_h"], base["tmax_h"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaled["ptf_pct"], base["ptf_pct"], rtol=1e-9, equal_nan=True)


@settings(max_examples=80, deadline=None)
@given(profiles, steps, st.lists(st.floats(0.0, 120.0), min_size=1, max_size=4, unique=True),
       st.booleans())
def test_time_above_and_below_are_bounded_and_monotone(conc, h, thresholds, periodic):
    t = h * np.arange(conc.shape[1])
    window = t[-1]
    xs = sorted({float(np.float32(x)) for x in thresholds})
    m = ex.interval_metrics(t, conc, above=xs, below=xs, periodic=periodic)
    above = np.array([m[ex.METRICS["Tabove"].column_for(x)] for x in xs])
    below = np.array([m[ex.METRICS["Tbelow_longest"].column_for(x)] for x in xs])
    assert np.all((above >= 0) & (above <= window))
    assert np.all((below >= 0) & (below <= window))
    tol = 1e-9 * window
    assert np.all(np.diff(above, axis=0) <= tol)  # fewer hours above a higher threshold
    assert np.all(np.diff(below, axis=0) >= -tol)  # longer runs below a higher threshold
    for i, x in enumerate(xs):
        for s in range(conc.shape[0]):
            ref = longest_below_reference(conc[s], x, h, periodic)
            assert below[i, s] == pytest.approx(ref, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(profiles, steps)
def test_metric_ordering(conc, h):
    t = h * np.arange(conc.shape[1])
    m = ex.interval_metrics(t, conc, above=(), below=())
    assert np.all(m["cmin_ng_ml"] <= conc.min(axis=1))
    assert np.all(m["cmax_ng_ml"] >= conc.max(axis=1))
    assert np.all(m["cmin_ng_ml"] >= 0)
    # Simpson and 3/8 weights are positive, so Cavg is a weighted mean of the grid values.
    assert np.all(m["cavg_ng_ml"] >= conc.min(axis=1) * (1 - 1e-12))
    assert np.all(m["cavg_ng_ml"] <= conc.max(axis=1) * (1 + 1e-12))
    assert np.all((m["tmax_h"] >= 0) & (m["tmax_h"] <= t[-1]))
