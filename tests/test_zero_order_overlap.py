"""Zero-order inputs that last longer than the dosing interval (Mo 2025 everolimus).

The model is linear, so the inputs of consecutive doses that run at once superpose: the
solver counts, per subject and output time, the inputs still running and the ended ones
from the same numbers. References: scipy's LSODA (rtol 1e-10, atol 1e-16, integrated
piece by piece between input starts and ends: ``tests.conftest.ode_central``) and a
hand-computable case (a constant total input rate).

Tolerances, fixed before comparing: 1e-7 relative against the ODE, as for the other
parallel-absorption trains in ``tests/test_solver.py`` (the ODE's own error over a week
of stiff steps, not the closed form's); 1e-10 between the steady state and a 400-dose
train (the slowest half-life, ~3 days at the extremes used here, leaves < 1e-12 after
400 intervals); 1e-12 for the hand-computable constant level; 1e-9 for the AUC over a
steady-state interval against F dose / CL (Simpson's rule on 8,001 points per smooth
piece: its error, which falls as h^4, is ~5e-12 there; 2,001 points left 1.2e-9).
"""

from __future__ import annotations

import math
import warnings
from itertools import pairwise

import numpy as np
import pytest

from pkdose import solver
from pkdose.regimen import DoseTrain
from tests.test_solver import mo_like, parallel, parallel_ode

#: Zero-order duration over dosing interval: shorter, exactly one, and 2 and 4 inputs at once.
RATIOS = [0.5, 1.0, 1.5, 3.7]
FR, LAG, DOSE = 0.62, 0.63, 5.0


def grid_with_input_ends(t0, ii, n, tk0, step=0.5):
    """A regular grid plus every dose time and every input end, exactly."""
    starts = t0 + ii * np.arange(n)
    last = t0 + (n - 1) * ii + tk0 + 100.0
    return np.unique(np.concatenate([np.arange(0.0, last, step), starts, starts + tk0]))


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("ii,n", [(24.0, 8), (12.0, 12)])
def test_overlapping_inputs_of_a_finite_train_match_ode(ratio, ii, n, rel_err):
    # Output times before the first dose (t0 = 5 h), while up to ceil(ratio) inputs run,
    # after the last dose while the last inputs still run, and exactly on every input end.
    tk0 = ratio * ii
    sys = mo_like()
    t = grid_with_input_ends(5.0, ii, n, tk0)
    got = parallel(sys, DoseTrain(5.0, ii, n, DOSE), t, FR, tk0, LAG)[0]
    ref = parallel_ode(sys, [(5.0 + ii * k, DOSE) for k in range(n)], t, FR, tk0, LAG)
    assert np.all(got[t < 5.0] == 0.0)
    assert rel_err(got, ref) < 1e-7


@pytest.mark.parametrize("tk0", [12.0, 24.0, 36.0, 88.8])
def test_a_single_dose_with_a_long_input_matches_ode(tk0, rel_err):
    sys = mo_like(compartments=3)
    t = grid_with_input_ends(2.0, 0.0, 1, tk0)
    got = parallel(sys, DoseTrain(2.0, 0.0, 1, DOSE), t, FR, tk0, LAG)[0]
    ref = parallel_ode(sys, [(2.0, DOSE)], t, FR, tk0, LAG)
    assert rel_err(got, ref) < 1e-7


@pytest.mark.parametrize("compartments", [2, 3])
@pytest.mark.parametrize("ratio", RATIOS)
def test_steady_state_of_overlapping_inputs_is_the_limit_of_a_long_train(ratio, compartments):
    ii = 24.0
    tk0 = ratio * ii
    sys = mo_like(compartments)
    # One interval, with the input ends inside it (tk0 mod ii) and its edges, exactly.
    t = np.unique(np.concatenate([np.arange(0.0, ii + 0.01, 0.25), [math.fmod(tk0, ii)]]))
    ss = parallel(sys, DoseTrain(0.0, ii, math.inf, DOSE), t, FR, tk0, LAG, ss=True)[0]
    long = parallel(sys, DoseTrain(0.0, ii, 400, DOSE), ii * 399 + t, FR, tk0, LAG)[0]
    np.testing.assert_allclose(ss, long, rtol=1e-10, atol=0)


@pytest.mark.parametrize("ratio", [1.5, 3.7])
def test_steady_state_auc_of_overlapping_inputs_is_f_dose_over_cl(ratio):
    from scipy.integrate import simpson

    ii, f = 24.0, 0.7
    tk0 = ratio * ii
    sys = mo_like()
    # Kinks at the lag's end and where the oldest running input ends (tk0 mod ii).
    edges = [0.0, LAG, math.fmod(tk0, ii), ii]
    pieces = [np.linspace(a, b, 8001) for a, b in pairwise(edges)]
    ss = parallel(sys, DoseTrain(0.0, ii, math.inf, DOSE), np.concatenate(pieces), FR, tk0,
                  LAG, f=f, ss=True)[0]
    auc = sum(simpson(ss[8001 * i:8001 * (i + 1)], x=x) for i, x in enumerate(pieces))
    assert auc / 47.66 == pytest.approx(f * DOSE / 7.11, rel=1e-9)


@pytest.mark.parametrize("m", [1, 3, 10 ** 6])
@pytest.mark.parametrize("compartments", [1, 2])
def test_inputs_lasting_whole_intervals_sum_to_a_constant_rate_at_steady_state(m, compartments):
    # tk0 = m ii: exactly m inputs run at every instant (one ends as the next starts), so
    # the total rate is F dose / ii and the steady-state central amount is rate / k10 at
    # every time, including the dose times, where inputs end and start. A million inputs
    # at once: the earlier ones are one closed-form sum, not a pass each.
    ii, cl, v1 = 24.0, 7.11, 47.66
    p = {"cl": cl, "v1": v1, "ka": 9.48}
    if compartments == 2:
        p |= {"q": 14.32, "v2": 205.94}
    sys = solver.build_system({k: np.array([v]) for k, v in p.items()}, 1)
    t = np.arange(0.0, 3 * ii, 0.125)
    got = parallel(sys, DoseTrain(0.0, ii, math.inf, DOSE), t, 1.0, m * ii, LAG, ss=True)[0]
    np.testing.assert_allclose(got, DOSE / ii / (cl / v1), rtol=1e-12, atol=0)


@pytest.mark.parametrize("ss", [False, True])
def test_an_input_far_longer_than_the_output_is_solved_at_once(ss):
    # A tk0 far in the tails of its IIV (an individual fit's t proposal draws such): on a
    # finite train the zero-order arm then delivers almost nothing (< dose t / tk0), while
    # at steady state the ~1e18 inputs running at once add up to the whole zero-order
    # rate, as for any tk0 that is a whole number of intervals (the test above).
    sys = mo_like()
    tr = DoseTrain(0.0, 24.0, math.inf if ss else 30, DOSE)
    t = np.arange(0.0, 800.0, 0.5)
    n = sys.n
    one = np.ones(n)
    first, zero = (pl.values()[0] for pl in solver.parallel_plans(
        sys, tr, DOSE * one, one, FR * one, 24.0e18 * one, LAG * one, t, steady_state=ss))
    assert np.all(np.isfinite(zero)) and np.all(zero >= 0.0)
    if ss:
        # Central amount of a constant input FR dose / ii into the 2-compartment system.
        np.testing.assert_allclose(zero, FR * DOSE / 24.0 / (7.11 / 47.66), rtol=1e-12)
    else:
        assert zero.max() < 1e-12 * first.max()


@pytest.mark.parametrize("ss", [False, True])
def test_a_long_input_ending_on_an_output_time_is_counted_once(ss):
    # 22.99999 + 49.00001 is not exactly 72: the running inputs and the ended train must
    # agree on which side of the third input's end a time falls.
    sys = mo_like()
    tr = DoseTrain(22.99999, 24.0, math.inf if ss else 60, DOSE)
    base = 0.0 if ss else 24.0 * 40
    for end in (72.0, 96.0):
        t = base + end + np.array([-1e-6, 0.0, 1e-6])
        c = parallel(sys, tr, t, 1.0 - 1e-12, 49.00001, 0.5, ss=ss)[0]
        assert np.ptp(c) < 1e-5 * c.max()


@pytest.mark.parametrize("ss", [False, True])
def test_short_and_long_inputs_of_different_subjects_in_one_call(ss, rel_err):
    # Between-subject variability on tk0 (omega 0.48) puts some subjects' inputs beyond a
    # daily interval: each subject against its own ODE (finite train) and bitwise equal to
    # the subject solved alone.
    dur = np.array([0.5, 1.12, 30.0, 90.0])
    fr = np.array([0.3, 0.62, 0.62, 0.9])
    lag = np.array([2.0, 0.63, 0.0, 30.0])
    sys = mo_like(n=4)
    tr = DoseTrain(1.0, 24.0, math.inf if ss else 6, DOSE)
    ends = 1.0 + 24.0 * np.arange(6) + dur[:, None]
    t = np.unique(np.concatenate([np.arange(0.0, 300.0, 0.5), ends.ravel()]))
    got = parallel(sys, tr, t, fr, dur, lag, ss=ss)
    for i in range(4):
        one = solver.subset(sys, np.array([i]))
        if not ss:
            ref = parallel_ode(one, [(1.0 + 24.0 * k, DOSE) for k in range(6)], t, fr[i],
                               dur[i], lag[i])
            assert rel_err(got[i], ref) < 1e-7
        alone = parallel(one, tr, t, fr[i], dur[i], lag[i], ss=ss)
        np.testing.assert_array_equal(alone[0], got[i])


def test_individual_fit_on_a_daily_regimen_survives_long_proposed_inputs():
    # The SIR proposal (multivariate t, 3 df) draws tk0 far in the tails: with these
    # settings it proposed a 55.5 h zero-order input on a 24 h interval, which was refused
    # and stopped the fit.
    from pkdose import individual as ind

    reg = "everolimus 5 mg daily"
    levels, _ = ind.simulate_levels(reg, 336.0 + np.array([2.0, 12.0, 23.0]), 1, "mo2025",
                                    seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ind.estimate(reg, levels[0], "mo2025", n_proposals=500, n_samples=100, seed=1)
    assert np.all(np.isfinite(fit.samples_z))


def test_bench_individual_mo2025_case_runs():
    # benchmarks/bench_individual.py's case: 5 mg weekly, three levels after the third
    # dose, default settings; a 613 h input among the proposals used to stop it.
    from pkdose import individual as ind

    reg = "everolimus 5 mg weekly"
    levels, _ = ind.simulate_levels(reg, 336.0 + np.array([2.0, 24.0, 168.0]), 1, "mo2025",
                                    seed=1)
    fit = ind.estimate(reg, levels[0], "mo2025")
    ind.exposure(fit)
    ind.recommend(fit, "trough 3-8")
    assert fit.ess > 100
