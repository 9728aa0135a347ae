"""Co-medications that start and stop, and one-off dose changes (issue 16 items 8 and 9).

Tolerances are written before the comparison they bound, with their reason.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pkdose import solver
from pkdose.comedication import (
    Comedication,
    continuous_factors,
    factor_steps,
    parse_comedication,
)
from pkdose.errors import PkdoseError
from pkdose.regimen import DoseTrain, compile_trains
from pkdose.regimen_io import parse_regimen_toml, regimen_to_toml
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import central_amounts, get_model, prepare, simulate
from pkdose.timevarying import segmented_central

# --- the ODE reference ----------------------------------------------------------------------


def _ode_central(prep, trains, times, cl_of_t, f_of_t, edges):
    """Central amount of subject 0 by solve_ivp (rtol 1e-10) on the full state, with the
    Michaelis-Menten gut where the model has one; doses enter at their times scaled by F at
    that time; CL(t) = CL0 cl_of_t(t)."""
    p = {k: (np.asarray(v, float)[:1] if np.ndim(v) else v) for k, v in prep.params.items()}
    mm = prep.model.absorption == "michaelis_menten"
    doses = [(t, tr) for tr in trains for t in
             (tr.t0_h + tr.ii_h * np.arange(int(tr.n)) if tr.ii_h else [tr.t0_h])]
    doses.sort(key=lambda d: d[0])

    def a_mat(t):
        q = dict(p)
        q["cl"] = p["cl"] * cl_of_t(t)
        return solver.system_matrix(solver.build_system(q, prep.model.n_chain))[0]

    n_states = prep.system.n_states + (1 if mm else 0)

    def rhs(t, y):
        if not mm:
            return a_mat(t) @ y
        gut, x = y[0], y[1:]
        rate = p["vm"][0] * gut / (p["km"][0] + gut)
        dx = a_mat(t) @ x
        dx[prep.system.central] += rate
        return np.concatenate([[-rate], dx])

    cuts = sorted({float(t) for t, _ in doses} | {float(e) for e in edges
                                                  if 0 < e < times.max()} | {float(times.max())})
    y = np.zeros(n_states)
    out = np.zeros(times.size)
    t_prev = 0.0
    central = prep.system.central + (1 if mm else 0)
    for cut in cuts + [math.inf]:
        sel = (times >= t_prev) & (times < cut) if math.isfinite(cut) else times >= t_prev
        if cut > t_prev or not math.isfinite(cut):
            end = min(cut, float(times.max()))
            if end > t_prev:
                sol = solve_ivp(rhs, (t_prev, end), y, method="LSODA", rtol=1e-10,
                                atol=1e-14, dense_output=True)
                if sel.any():
                    out[sel] = sol.sol(times[sel])[central]
                y = sol.y[:, -1]
            else:
                out[sel] = y[central]
        if not math.isfinite(cut):
            break
        for t, tr in doses:
            if t == cut:
                amt = tr.amount * p["f"][0] * f_of_t(t)
                y[0 if (tr.route == "oral" and (mm or prep.system.n_chain)) else central] += amt
        t_prev = cut
    return out


def _step_fn(steps):
    """CL held in steps; F continuous at each dose (as the step solver applies them)."""
    def cl(t):
        return steps.cl[int(np.searchsorted(steps.edges_h, t, side="right"))]
    return cl, (lambda t: float(steps.dose_f(np.array([t]))[0]))


KETO = Comedication("ketoconazole", 8, 14)


@pytest.mark.parametrize("model", ["golubovic2019", "wu2012", "terheine2018"])
def test_steps_are_solved_exactly(model):
    """Exact for the steps: the segmented solution equals the ODE with the same
    piecewise-constant CL (and F at each dose's own time). Tolerance 1e-7 of the peak: the
    ODE is solved at rtol 1e-10 over ~150 segments and 30 doses, so its own error is
    ~1e-9."""
    drug = "everolimus" if model == "terheine2018" else "sirolimus"
    comed = Comedication("ketoconazole", 8, 14) if drug == "sirolimus" else Comedication(
        "rifampin", 4, 12)
    m = get_model(model, drug=drug)
    prep = prepare(m)
    steps = factor_steps(drug, [comed], steps=8)
    trains = compile_trains(parse_regimen(f"{drug} 2 mg daily x 30"))
    times = np.linspace(0.0, 40 * 24.0, 321)
    got = segmented_central(prep, trains, times, steps)[0]
    cl_t, f_t = _step_fn(steps)
    want = _ode_central(prep, trains, times, cl_t, f_t, steps.edges_h)
    assert np.max(np.abs(got - want)) <= 1e-7 * np.max(want)


def test_steps_approach_the_continuous_onset_and_offset_within_their_bound():
    """The step error against the continuous model: at most 1e-3 of the peak with the
    shipped 32 parts per transition, and halving the parts cuts it at least 1.8-fold.

    Why 1e-3: each step holds the time average of the progress r over its part, so within
    a part the CL error has zero mean and only its product with the change of the
    concentration over the part remains (second order in the equal parts, 1/N^2). The
    halving tail below r = 1/N has parts one perpetrator half-life long whatever N, and
    contributes r <= 1/N times that product: first order with a small constant. With
    N = 32 the equal parts give ~(1/32)^2 = 1e-3 of the ketoconazole span as a bound on
    the held factor's deviation from its part average; the tail adds less. Measured (when
    written): 6.2e-4 at N = 32, 1.6e-3 at N = 16."""
    m = get_model("golubovic2019", drug="sirolimus")
    prep = prepare(m)
    trains = compile_trains(parse_regimen("sirolimus 2 mg daily x 30"))
    times = np.linspace(0.0, 40 * 24.0, 321)

    def cont(t):
        return continuous_factors("sirolimus", [KETO], np.array([t]))

    want = _ode_central(prep, trains, times, lambda t: cont(t)[0][0],
                        lambda t: cont(t)[1][0], [])
    errs = {}
    for n in (16, 32):
        got = segmented_central(prep, trains, times, factor_steps("sirolimus", [KETO], n))[0]
        errs[n] = np.max(np.abs(got - want)) / np.max(want)
    assert errs[32] <= 1e-3
    assert errs[16] / errs[32] >= 1.8


def test_continuous_factors_follow_the_cited_half_lives():
    """Hand case: ketoconazole (reversible, t1/2 8 h, CL x 4/11) one half-life after it
    starts has phi = 1/2, so 1/CL factor = 1 + (11/4 - 1)/2; rifampin (enzyme turnover,
    72 h) one half-life after stopping keeps half its CL change. Exact to rounding (1e-12)."""
    cl, f = continuous_factors("sirolimus", [KETO], np.array([7 * 24 + 8.0]))
    assert cl[0] == pytest.approx(1 / (1 + 0.5 * (11 / 4 - 1)), rel=1e-12)
    assert f[0] == pytest.approx(1 / (1 + 0.5 * (1 / 4 - 1)), rel=1e-12)
    rif = Comedication("rifampin", None, 10)
    cl, _ = continuous_factors("sirolimus", [rif], np.array([240.0 + 72.0]))
    full = 0.29 / 0.18
    assert cl[0] == pytest.approx(1 + 0.5 * (full - 1), rel=1e-12)


def test_a_window_without_events_changes_nothing_and_the_whole_course_matches():
    """Before ketoconazole starts the curve is the plain one, and a co-medication taken
    from before the first dose and never stopped equals the whole-course factors
    (1e-12 relative: the same arithmetic up to rounding)."""
    t = np.arange(0.0, 24 * 7.0, 1.0)
    plain = simulate("sirolimus 2 mg daily", model="golubovic2019", times_h=t)["conc_ng_ml"]
    timed = simulate("sirolimus 2 mg daily", model="golubovic2019", times_h=t,
                     with_="ketoconazole day 8-14")["conc_ng_ml"]
    np.testing.assert_allclose(timed, plain, rtol=1e-12)
    t = np.arange(0.0, 24 * 20.0, 1.0)
    whole = simulate("sirolimus 2 mg daily", model="golubovic2019", times_h=t,
                     with_="ketoconazole")["conc_ng_ml"]
    steps = factor_steps("sirolimus", [Comedication("ketoconazole", None, 30)])
    got = segmented_central(prepare(get_model("golubovic2019", drug="sirolimus")),
                            compile_trains(parse_regimen("sirolimus 2 mg daily")), t, steps)
    direct = central_amounts(prepare(get_model("golubovic2019", drug="sirolimus"),
                                     with_="ketoconazole"),
                             compile_trains(parse_regimen("sirolimus 2 mg daily")), t)
    np.testing.assert_allclose(got, direct, rtol=1e-9, atol=1e-15)
    assert np.all(whole[1:] > 0)


@pytest.mark.xfail(strict=True, reason="known discrepancy: the shipped ketoconazole factors "
                   "were derived as if ketoconazole never stopped; in the study it stopped 4.5 "
                   "days after the everolimus dose, and the timed prediction (12.3) falls below "
                   "the 90 % CI. Re-deriving the factors for the study's window is open work.")
def test_everolimus_ketoconazole_study_window_against_kovarik_2005():
    """Kovarik 2005: ketoconazole 200 mg twice daily for 8 days, everolimus 2 mg on day 4:
    AUC ratio 15.0 (90 % CI 13.6-16.6). As a regimen: the everolimus dose on day 1 with
    ketoconazole from before it until the end of day 5 (days 4-8 of ketoconazole). The
    shipped factors reproduce 15.0 for ketoconazole that never stops; stopping it during
    the wash-out must lower the ratio, and the prediction is checked to lie within the
    study's 90 % CI (written before comparing)."""
    t = np.arange(0.0, 24 * 40.0, 0.25)
    base = simulate("everolimus 2 mg once", times_h=t)["conc_ng_ml"].to_numpy()
    timed = simulate("everolimus 2 mg once", times_h=t,
                     with_="ketoconazole until day 5")["conc_ng_ml"].to_numpy()
    ratio = np.trapezoid(timed, t) / np.trapezoid(base, t)
    assert ratio < 15.0
    assert 13.6 <= ratio <= 16.6, ratio


# --- dose changes -----------------------------------------------------------------------------


def _curve(text, t, model="golubovic2019", **kw):
    return simulate(text, model=model, times_h=t, **kw)["conc_ng_ml"].to_numpy()


def test_missed_and_late_doses_are_exact_by_superposition():
    """For a linear model a missed dose is the full curve minus that dose's own curve, and
    a late one adds it back later: exact to rounding (1e-10 of the peak)."""
    t = np.arange(0.0, 24 * 12.0, 0.5)
    full = _curve("sirolimus 2 mg daily x 10", t)
    one = _curve("sirolimus 2 mg once", t)

    def shift(h):
        return np.interp(t - h, t, one, left=0.0)

    missed = _curve("sirolimus 2 mg daily x 10, missed dose 3", t)
    np.testing.assert_allclose(missed, full - shift(48.0), atol=1e-10 * full.max())
    late = _curve("sirolimus 2 mg daily x 10, dose 2 taken 12 h late", t)
    np.testing.assert_allclose(late, full - shift(24.0) + shift(36.0), atol=1e-10 * full.max())


def test_hold_of_the_whole_course_is_no_drug_and_weeks_count_from_the_first_dose():
    assert compile_trains(parse_regimen("sirolimus 2 mg daily x 10, hold days 1-10")) == ()
    t = np.arange(0.0, 24 * 12.0, 1.0)
    assert np.all(_curve("sirolimus 2 mg daily x 10, hold days 1-10", t) == 0.0)
    weekly = compile_trains(parse_regimen("rapamycin 6 mg weekly, missed week 3"))
    firsts = sorted((tr.t0_h, tr.n) for tr in weekly)
    assert firsts == [(0.0, 2), (3 * 168.0, math.inf)]
    held = compile_trains(parse_regimen("sirolimus 2 mg daily, hold days 10-14"))
    assert sorted((tr.t0_h, tr.n) for tr in held) == [(0.0, 9), (14 * 24.0, math.inf)]
    extra = compile_trains(parse_regimen("sirolimus 2 mg daily, extra 2 mg on day 5"))
    assert (96.0, 0.0, 1) in [(tr.t0_h, tr.ii_h, tr.n) for tr in extra]


def test_a_change_costs_nothing_per_dose_on_an_endless_regimen():
    """A hold in year 9 of a daily regimen splits trains arithmetically: no dose is listed
    (well under a second; a loop over 3,000 doses per subject would still be fast, so the
    train count is what is checked)."""
    reg = parse_regimen("sirolimus 2 mg daily, hold days 3000-3010")
    trains = compile_trains(reg)
    assert len(trains) == 2 and math.isinf(trains[1].n)


# --- text, files, round trips -----------------------------------------------------------------

ROUND_TRIP = [
    "sirolimus 6 mg weekly, missed week 3",
    "sirolimus 2 mg daily, dose 2 taken 12 h late",
    "sirolimus 2 mg daily, hold days 10-14",
    "sirolimus 2 mg daily, extra 2 mg on day 5",
    "sirolimus 2 mg daily with ciclosporin",
    "sirolimus 2 mg daily with ketoconazole day 8-14",
    "sirolimus 2 mg daily, missed dose 3 with ciclosporin 4h and rifampin from day 3",
    "everolimus 5 mg daily with ketoconazole until day 20",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_text_and_toml_round_trip(text):
    reg = parse_regimen(text)
    assert str(reg) == text
    assert parse_regimen(str(reg)) == reg
    assert parse_regimen_toml(regimen_to_toml(reg)).regimen == reg


def test_cli_forms_of_a_window_read_the_same():
    for text in ("ketoconazole:day8-day14", "ketoconazole day 8-14", "ketoconazole days 8 to 14",
                 "keto:day8-14"):
        c = parse_comedication(text)
        assert (c.first_day, c.last_day) == (8, 14)
        assert (c.start_h, c.stop_h) == (168.0, 336.0)


def test_reference_file_and_regimen_text_apply_ciclosporin_the_same_way():
    """`compare regimens/rapamune-kidney-csa.toml` applies its ciclosporin, as `report`
    does: the file's regimen carries it, with no 'not applied' warning."""
    import warnings
    from importlib import resources

    path = str(resources.files("pkdose.data").joinpath("regimens/rapamune-kidney-csa.toml"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from pkdose.simulation import as_regimen
        reg = as_regimen(path)
    assert [str(c) for c in reg.comedications] == ["ciclosporin"]
    t = np.arange(0.0, 24 * 10.0, 1.0)
    a = simulate(reg, times_h=t)["conc_ng_ml"].to_numpy()
    b = simulate("sirolimus 6 mg loading then 2 mg daily", times_h=t,
                 with_="ciclosporin")["conc_ng_ml"].to_numpy()
    np.testing.assert_array_equal(a, b)


def test_with_adds_to_the_regimens_own():
    from pkdose.engine import scenario

    scn = scenario("sirolimus 2 mg daily with ciclosporin", with_=["ketoconazole day 8-14"])
    assert scn.comedication == ("ciclosporin", "ketoconazole day 8-14")
    assert str(scn.regimen) == ("sirolimus 2 mg daily with ciclosporin and ketoconazole "
                                "day 8-14")
    assert scn.label == str(scn.regimen)


def test_compare_summarises_the_whole_course_and_says_so():
    import pkdose

    table = pkdose.compare(["sirolimus 2 mg daily, missed dose 3",
                            "sirolimus 2 mg daily with ketoconazole day 8-14"],
                           model="golubovic2019", spread=False)
    frame = table.to_frame()
    assert list(frame["basis"]) == ["course 0-336 h", "course 0-504 h"]


# --- bad input ---------------------------------------------------------------------------------

BAD = [
    ("sirolimus 2 mg daily x 7 with ketoconazole day 30-40", "after the regimen ends"),
    ("sirolimus 2 mg daily x 7, hold days 30-40", "after the regimen ends"),
    ("sirolimus 2 mg daily, hold days 3-5, missed day 4", "overlap"),
    ("sirolimus 2 mg daily with ketoconazole day 3-9 and ketoconazole day 8-14", "overlap"),
    ("sirolimus 2 mg daily, missed fortnight 3", "cannot read the dose change"),
    ("sirolimus 2 mg daily x 5, missed dose 9", "does not exist"),
    ("sirolimus 2 mg weekly, missed day 3", "falls on no dose"),
    ("sirolimus 2 mg daily with ketoconazole day 14-8", "comes before the first"),
    ("sirolimus 2 mg daily with ciclosporin day 1-60", "no cited onset and offset kinetics"),
    ("sirolimus 2 mg daily, hold days 10-99999999999", "limit"),
    ("sirolimus 2 mg daily with ketoconazole day 99999999999-99999999999", "limit"),
    ("sirolimus 2 mg daily, missed dose 99999999999", "limit"),
    ("sirolimus 2 mg daily with", "name a co-medication after 'with'"),
    ("sirolimus 2 mg daily with aspirin", "unknown co-medication 'aspirin'"),
    ("sirolimus 2 mg daily with ketoconazole day 0-3", "whole numbers from 1"),
]


@pytest.mark.parametrize("text,words", BAD)
def test_bad_events_are_one_line_errors_without_delay(text, words):
    t0 = time.perf_counter()
    with pytest.raises(PkdoseError) as err:
        reg = parse_regimen(text)
        simulate(reg, until_h=24 * 70.0)
    assert words in str(err.value)
    assert "\n" not in str(err.value)
    assert time.perf_counter() - t0 < 5.0


def test_no_measured_ratio_says_so():
    with pytest.raises(PkdoseError, match="no interaction data for sirolimus with "
                                          "carbamazepine.*measured ratios only"):
        simulate("sirolimus 2 mg daily", with_="carbamazepine", until_h=48)


def test_zero_order_model_refuses_timed_comedication():
    with pytest.raises(PkdoseError, match="mo2025"):
        simulate("everolimus 5 mg daily", model="mo2025", until_h=24 * 20,
                 with_="ketoconazole day 3-5")


def test_cli_window_is_one_line_with_exit_2():
    run = subprocess.run([sys.executable, "-m", "pkdose", "simulate", "sirolimus 2 mg daily x 7",
                          "--with", "ketoconazole:day30-day40"], capture_output=True, text=True)
    assert run.returncode == 2
    errors = [x for x in run.stderr.splitlines() if x.startswith("pkdose: error")]
    assert len(errors) == 1 and "after the regimen ends" in errors[0]
    assert "Traceback" not in run.stderr


def test_dose_change_objects_are_checked():
    from pkdose.regimen import Dose, DoseChange

    with pytest.raises(PkdoseError):
        DoseChange("forgot", dose_number=1)
    with pytest.raises(PkdoseError):
        DoseChange("late", dose_number=1)
    with pytest.raises(PkdoseError):
        DoseChange("extra", first=2)
    assert str(DoseChange("extra", first=2, dose=Dose(1.0))) == "extra 1 mg on day 2"
    reg = parse_regimen("sirolimus 2 mg daily")
    assert replace(reg, changes=(DoseChange("hold", first=2, last=3),)).has_events
    assert DoseTrain(0.0, 0.0, 1, 1.0).n == 1


def test_event_tables_keep_dose_changes_and_refuse_co_medications():
    from pkdose.regimen_io import regimen_to_events

    ev = regimen_to_events(parse_regimen("sirolimus 2 mg daily x 10, missed dose 3"))
    assert list(ev["TIME"]) == [0.0, 72.0] and list(ev["ADDL"]) == [1, 6]
    with pytest.raises(PkdoseError, match="event table holds doses only"):
        regimen_to_events(parse_regimen("sirolimus 2 mg daily x 10 with ciclosporin"))


def test_a_timed_co_medication_is_refused_for_the_parent_metabolite_model():
    from pkdose.comparison import compare
    from pkdose.errors import PkdoseError

    # It was silently ignored: the same exposure as without ketoconazole.
    with pytest.raises(PkdoseError, match="whole course only"):
        compare(["temsirolimus 25 mg iv weekly for 3 weeks with ketoconazole day 8-14"],
                spread=False)


def test_the_table_names_a_regimens_own_co_medication_once_after_food():
    from pkdose.comparison import compare

    text = compare(["sirolimus 2 mg daily with food with ketoconazole day 8-14"],
                   spread=False, metrics=["Cavg"]).to_text()
    assert text.count("ketoconazole day 8-14") == 1


def test_a_timed_co_medication_given_apart_reaches_population_runs():
    from pkdose.population import simulate_population

    # It failed with "no steady state": the arm kept the regimen without the co-medication.
    given, _ = simulate_population("sirolimus 2 mg daily", 8, with_="ketoconazole:day8-day14",
                                   fan=False)
    written, _ = simulate_population("sirolimus 2 mg daily with ketoconazole day 8-14", 8,
                                     fan=False)
    assert given["basis"].iloc[0] == written["basis"].iloc[0] == "course 0-504 h"
    assert np.array_equal(given["ctrough_ng_ml"], written["ctrough_ng_ml"])
