"""The solver is exact: it matches hand formulas, a tight ODE reference, and PK identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkdose import solver
from pkdose.model import covariate_table, get_model, individual_parameters
from pkdose.regimen import DoseTrain
from tests.conftest import ode_central

ONE = np.array([1.0])
ZERO = np.array([0.0])


def system(ka=None, cl=10.0, v1=100.0, q=None, v2=None, n_chain=1):
    p = {"cl": np.array([cl]), "v1": np.array([v1])}
    if q is not None:
        p["q"], p["v2"] = np.array([q]), np.array([v2])
    if n_chain:
        p["ka"] = np.array([ka])
    return solver.build_system(p, n_chain)


def train(sys, tr, times, dose=None, f=1.0, tlag=0.0, ss=False):
    amount = np.array([tr.amount if dose is None else dose])
    return solver.train_central(sys, tr, amount, np.array([f]), np.array([tlag]),
                                np.asarray(times, float), steady_state=ss)[0]


# --- hand-computable cases --------------------------------------------------------------


def test_single_oral_dose_one_compartment_matches_bateman_function():
    ka, cl, v = 1.3, 5.0, 50.0
    k = cl / v
    t = np.linspace(0, 96, 193)
    got = train(system(ka, cl, v), DoseTrain(0, 0, 1, 10.0), t)
    expected = 10.0 * ka / (ka - k) * (np.exp(-k * t) - np.exp(-ka * t))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_absorption_rate_equal_to_elimination_rate_gives_t_exp_form_without_nan():
    k = 0.1
    t = np.linspace(0, 200, 401)
    got = train(system(k, cl=k * 50.0, v1=50.0), DoseTrain(0, 0, 1, 10.0), t)
    np.testing.assert_allclose(got, 10.0 * k * t * np.exp(-k * t), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("eps", [1e-15, 1e-12, 1e-9, 1e-6, 1e-3])
def test_absorption_rate_near_elimination_rate_is_continuous(eps):
    k = 0.1
    t = np.linspace(0, 200, 401)
    got = train(system(k * (1 + eps), cl=k * 50.0, v1=50.0), DoseTrain(0, 0, 1, 10.0), t)
    ka = k * (1 + eps)
    # Exact expansion in eps: ka/(ka-k) (e^{-kt} - e^{-ka t}) = ka t e^{-kt} phi1((ka-k)t).
    x = (ka - k) * t
    with np.errstate(invalid="ignore", divide="ignore"):
        phi1 = np.where(x > 0, -np.expm1(-x) / x, 1.0)
    expected = 10.0 * ka * t * np.exp(-k * t) * phi1
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_iv_bolus_two_compartment_matches_biexponential():
    cl, v1, q, v2 = 10.0, 100.0, 20.0, 500.0
    sys = system(cl=cl, v1=v1, q=q, v2=v2, n_chain=0)
    k10, k12, k21 = cl / v1, q / v1, q / v2
    s = k10 + k12 + k21
    alpha = (s + math.sqrt(s * s - 4 * k10 * k21)) / 2
    beta = (s - math.sqrt(s * s - 4 * k10 * k21)) / 2
    t = np.linspace(0, 300, 301)
    got = train(sys, DoseTrain(0, 0, 1, 5.0, route="iv"), t)
    expected = 5.0 * ((alpha - k21) / (alpha - beta) * np.exp(-alpha * t)
                      + (k21 - beta) / (alpha - beta) * np.exp(-beta * t))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_infusion_one_compartment_rises_to_plateau_then_decays():
    cl, v, dur, dose = 4.0, 40.0, 2.0, 8.0
    k, rate = cl / v, dose / dur
    t = np.linspace(0, 24, 97)
    got = train(system(cl=cl, v1=v, n_chain=0),
                DoseTrain(0, 0, 1, dose, route="infusion", infusion_h=dur), t)
    during = rate / k * (1 - np.exp(-k * np.minimum(t, dur)))
    expected = np.where(t <= dur, during, during * np.exp(-k * (t - dur)))
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-14)


def test_steady_state_auc_over_interval_equals_f_dose_over_cl():
    sys = system(0.5, cl=10.0, v1=100.0, q=20.0, v2=500.0)
    t = np.linspace(0, 24, 24 * 200 + 1)
    ss = train(sys, DoseTrain(0, 24, math.inf, 0.5), t, f=0.6, ss=True)
    from scipy.integrate import simpson

    auc = simpson(ss, x=t)
    # central amount integral / V1 = concentration AUC; F D / CL in mg h/L.
    assert auc / 100.0 == pytest.approx(0.6 * 0.5 / 10.0, rel=1e-6)


def test_single_dose_auc_to_infinity_equals_f_dose_over_cl():
    sys = system(0.8, cl=12.0, v1=60.0, q=25.0, v2=600.0)
    t = np.linspace(0, 3000, 300_001)
    c = train(sys, DoseTrain(0, 0, 1, 2.0), t)
    from scipy.integrate import simpson

    assert simpson(c, x=t) / 60.0 == pytest.approx(2.0 / 12.0, rel=1e-6)


def test_steady_state_is_the_limit_of_a_long_train():
    sys = system(0.5, cl=10.0, v1=100.0, q=20.0, v2=500.0)
    t = np.linspace(0, 168, 169)
    ss = train(sys, DoseTrain(0, 168, math.inf, 6.0), t, ss=True)
    long = train(sys, DoseTrain(0, 168, 400, 6.0), 168 * 300 + t)
    np.testing.assert_allclose(ss, long, rtol=1e-12)


def test_train_equals_explicit_sum_of_single_doses():
    sys = system(1.1, cl=8.0, v1=40.0, q=15.0, v2=300.0)
    t = np.linspace(0, 400, 801)
    tr = train(sys, DoseTrain(3.0, 48, 6, 2.0), t)
    single = sum(train(sys, DoseTrain(3.0 + 48 * k, 0, 1, 2.0), t) for k in range(6))
    np.testing.assert_allclose(tr, single, rtol=1e-11, atol=1e-15)


def test_lag_time_shifts_the_curve():
    sys = system(0.7, cl=8.0, v1=40.0)
    t = np.linspace(0, 100, 201)
    lagged = train(sys, DoseTrain(0, 24, 3, 1.0), t, tlag=0.5)
    shifted = train(sys, DoseTrain(0.5, 24, 3, 1.0), t)
    np.testing.assert_allclose(lagged, shifted, rtol=1e-12, atol=1e-16)


# --- transit chains and coinciding eigenvalues -------------------------------------------


def transit_system(ktr, n_chain, cl=33.0, v1=175.0, q=85.7, v2=577.0):
    p = {"cl": np.array([cl]), "v1": np.array([v1]), "q": np.array([q]),
         "v2": np.array([v2]), "ktr": np.array([ktr])}
    return solver.build_system(p, n_chain)


@pytest.mark.parametrize("n_chain", [1, 2, 5, 8])
@pytest.mark.parametrize("which", ["alpha", "beta", "free"])
def test_transit_chain_matches_ode_even_when_rate_equals_an_eigenvalue(n_chain, which, rel_err):
    base = transit_system(12.0, n_chain)
    ktr = {"alpha": base.lam[0, 0], "beta": base.lam[0, 1], "free": 12.4}[which]
    sys = transit_system(ktr, n_chain)
    t = np.linspace(0, 120, 481)
    got = train(sys, DoseTrain(0, 24, 4, 10.0), t)
    ref = ode_central(sys, [(24.0 * k, 10.0, "oral") for k in range(4)], t)
    assert not np.any(np.isnan(got))
    assert rel_err(got, ref) < 1e-7


@pytest.mark.parametrize("eps", [0.0, 1e-14, 1e-10, 1e-6, 1e-3])
def test_chain_kernel_is_continuous_through_coincidence(eps):
    k = np.array([[0.3]])
    u = np.linspace(0, 100, 101)[None, :]
    for m in (1, 3, 6):
        exact = solver.chain_kernel(m, k, k, u)
        near = solver.chain_kernel(m, k, k * (1 + eps), u)
        # d/dlam of the kernel is bounded by u * kernel, so the change is <= eps * u * k.
        np.testing.assert_allclose(near, exact, rtol=2 * eps * 100 * 0.3 + 1e-13, atol=1e-300)
        # Coincident rates: Erlang density times k^m u^m e^{-ku}/m! form.
        erl = (k * u) ** m * np.exp(-k * u) / math.factorial(m)
        np.testing.assert_allclose(exact, erl, rtol=1e-12, atol=1e-300)


# --- every regimen kind, every shipped linear model, against the ODE ----------------------

REGIMEN_KINDS = {
    "daily": [DoseTrain(0, 24, 20, 1.0)],
    "weekly": [DoseTrain(0, 168, 3, 6.0)],
    "loading then daily": [DoseTrain(0, 0, 1, 6.0), DoseTrain(24, 24, 15, 2.0)],
    "twice daily": [DoseTrain(0, 12, 30, 0.75)],
    "every 48 h": [DoseTrain(0, 48, 8, 10.0)],
    "5 days on 9 off": [DoseTrain(24.0 * d, 336, 2, 2.0) for d in range(5)],
    "Mon/Thu": [DoseTrain(0, 168, 3, 5.0), DoseTrain(72, 168, 3, 5.0)],
}


@pytest.mark.parametrize("name", ["dewit2016", "golubovic2019", "terheine2018"])
@pytest.mark.parametrize("kind", sorted(REGIMEN_KINDS))
def test_linear_models_match_ode_for_every_regimen_kind(name, kind, rel_err):
    model = get_model(name)
    p = individual_parameters(model, covariate_table())
    sys = solver.build_system(p, model.n_chain)
    trains = REGIMEN_KINDS[kind]
    t = np.linspace(0, 600, 1201)
    got = sum(train(sys, tr, t) for tr in trains)
    events = []
    for tr in trains:
        for k in range(int(tr.n)):
            events.append((tr.t0_h + k * tr.ii_h, tr.amount, "oral"))
    ref = ode_central(sys, events, t)
    assert rel_err(got, ref) < 1e-7


def test_iv_and_infusion_trains_match_ode(rel_err):
    sys = system(0.5, cl=10.0, v1=100.0, q=20.0, v2=500.0)
    t = np.linspace(0, 200, 801)
    got = train(sys, DoseTrain(0, 24, 5, 3.0, route="iv"), t)
    got += train(sys, DoseTrain(6, 24, 5, 4.0, route="infusion", infusion_h=2.0), t)
    ref = ode_central(sys, [(24.0 * k, 3.0, "iv") for k in range(5)], t,
                      infusions=[(6 + 24.0 * k, 2.0, 2.0) for k in range(5)])
    assert rel_err(got, ref) < 1e-7


def test_infusion_steady_state_is_the_limit_of_a_long_train():
    sys = system(0.5, cl=10.0, v1=100.0, q=20.0, v2=500.0)
    t = np.linspace(0, 24, 97)
    tr_ss = DoseTrain(0, 24, math.inf, 4.0, route="infusion", infusion_h=3.0)
    tr_long = DoseTrain(0, 24, 2000, 4.0, route="infusion", infusion_h=3.0)
    np.testing.assert_allclose(train(sys, tr_ss, t, ss=True), train(sys, tr_long, 24 * 1500 + t),
                               rtol=1e-11)


# --- Michaelis-Menten absorption (Wu 2012) -------------------------------------------------


@pytest.mark.parametrize("dose,ii,n", [(1.0, 24, 10), (6.0, 168, 3), (60.0, 168, 2),
                                       (4.0, 24, 6), (40.0, 12, 4), (0.5, 8, 9)])
def test_michaelis_menten_model_matches_ode_within_1e_6(dose, ii, n, rel_err):
    model = get_model("wu2012")
    p = individual_parameters(model, covariate_table())
    sys = solver.build_system(p, 0)
    dt = np.arange(n) * float(ii)
    t = np.arange(0, n * ii + 72, 0.25)
    got, _ = solver.mm_central(sys, p["vm"], p["km"], dt, np.full((1, n), dose), t)
    ref = ode_central(sys, [(x, dose, "oral") for x in dt], t, vm=p["vm"][0], km=p["km"][0])
    assert not np.any(np.isnan(got))
    assert rel_err(got[0], ref) < 1e-6


def test_michaelis_menten_gut_amount_solves_its_ode():
    a0, vm, km = np.array([30.0]), np.array([4.56]), np.array([13.8])
    s = np.linspace(0, 80, 161)
    g = solver.gut_amount(np.full_like(s, 30.0), s, vm, km)
    # Implicit exact solution: Km ln(A0/A) + (A0 - A) = Vm s.
    np.testing.assert_allclose(km * np.log(a0 / g) + (a0 - g), vm * s, rtol=1e-10, atol=1e-9)


def mm_system3():
    model = get_model("wu2012")
    p = individual_parameters(model, covariate_table())
    p3 = {**p, "q2": np.array([20.0]), "v3": np.array([1500.0])}
    return p3, solver.build_system(p3, 0)


@pytest.mark.parametrize("compartments,dose,ii,n", [(2, 4.0, 24.0, 120), (3, 6.0, 168.0, 80)])
def test_michaelis_menten_steady_state_is_the_limit_of_many_doses(compartments, dose, ii, n):
    if compartments == 3:
        p, sys = mm_system3()
    else:
        p = individual_parameters(get_model("wu2012"), covariate_table())
        sys = solver.build_system(p, 0)
    t = np.linspace(0, ii, 49)
    ss = solver.mm_steady_state(sys, p["vm"], p["km"], np.array([0.0]), np.array([[dose]]),
                                ii, t)
    long, _ = solver.mm_central(sys, p["vm"], p["km"], np.arange(n) * ii,
                                np.full((1, n), dose), ii * (n - 1) + t)
    np.testing.assert_allclose(ss, long, rtol=1e-8)


def test_michaelis_menten_auc_is_dose_proportional_but_cmax_is_not():
    model = get_model("wu2012")
    p = individual_parameters(model, covariate_table())
    sys = solver.build_system(p, 0)
    t = np.linspace(0, 2000, 40001)
    from scipy.integrate import simpson

    res = {}
    for d in (1.0, 40.0):
        c, _ = solver.mm_central(sys, p["vm"], p["km"], np.array([0.0]), np.array([[d]]), t)
        res[d] = (simpson(c[0], x=t) / d, c[0].max() / d)
    assert res[40.0][0] == pytest.approx(res[1.0][0], rel=1e-3)  # all of it is absorbed
    assert res[40.0][1] < 0.6 * res[1.0][1]  # saturable absorption flattens the peak


# --- properties ---------------------------------------------------------------------------

rates = st.floats(0.01, 5.0)


@settings(max_examples=40, deadline=None)
@given(ka=rates, cl=st.floats(1, 50), v1=st.floats(5, 500), q=st.floats(0.5, 100),
       v2=st.floats(10, 2000), d1=st.floats(0.1, 50), d2=st.floats(0.1, 50),
       ii=st.sampled_from([8.0, 12.0, 24.0, 48.0, 168.0]), n=st.integers(1, 30))
def test_superposition_and_dose_linearity(ka, cl, v1, q, v2, d1, d2, ii, n):
    sys = system(ka, cl=cl, v1=v1, q=q, v2=v2)
    t = np.linspace(0, 30 * 24, 181)
    a = train(sys, DoseTrain(0, ii, n, d1), t)
    b = train(sys, DoseTrain(5.0, ii, n, d2), t)
    both = a + b
    assert np.all(np.isfinite(both)) and np.all(both >= -1e-12 * (d1 + d2))
    np.testing.assert_allclose(train(sys, DoseTrain(0, ii, n, 2 * d1), t), 2 * a,
                               rtol=1e-12, atol=1e-14)
    explicit = sum(train(sys, DoseTrain(k * ii, 0, 1, d1), t) for k in range(n))
    np.testing.assert_allclose(a, explicit, rtol=1e-9, atol=1e-12 * d1)


@settings(max_examples=30, deadline=None)
@given(ka=rates, cl=st.floats(1, 50), v1=st.floats(5, 500), q=st.floats(0.5, 100),
       v2=st.floats(10, 2000))
def test_amount_in_body_never_exceeds_the_doses_given(ka, cl, v1, q, v2):
    sys = system(ka, cl=cl, v1=v1, q=q, v2=v2)
    t = np.linspace(0, 500, 501)
    c = train(sys, DoseTrain(0, 24, 10, 1.0), t)
    given_by_t = np.minimum(np.floor(t / 24) + 1, 10)
    assert np.all(c <= given_by_t * (1 + 1e-12))


@pytest.mark.parametrize("route", ["infusion", "diet"])
@pytest.mark.parametrize("ss", [True, False])
def test_an_input_ending_exactly_on_an_output_time_is_counted_once(route, ss):
    # 22.99999 + 1.00001 is not exactly 24 in floating point: the running-input and
    # ended-input parts must still agree on which side of the end a time falls.
    sys = system(1.0, cl=0.004, v1=0.05, q=0.01, v2=0.2)
    tr = DoseTrain(22.99999, 24.0, math.inf if ss else 60, 0.5, route=route, infusion_h=1.00001)
    base = 0.0 if ss else 24.0 * 40
    t = base + np.array([23.999999, 24.0, 24.000001])
    c = train(sys, tr, t, ss=ss)
    assert np.ptp(c) < 1e-5 * c.max()


# --- output plans: the regular-grid blocks agree with value-by-value evaluation ----------


def test_regular_runs_split_a_grid_into_repeating_intervals():
    t = np.arange(0.0, 80.0)
    count = np.minimum(np.floor(t / 24) + 1, 3).astype(int)
    s = t - (count - 1) * 24.0
    runs = solver.regular_runs(count, s)
    assert runs == [(0, 2, 24), (48, 1, 32)]  # two full days, then the tail after dose 3
    assert solver.regular_runs(count[::-1], s[::-1]) is None


@pytest.mark.parametrize("step", [1.0, 0.5, 0.1, 7.0])
@pytest.mark.parametrize("tr", [DoseTrain(3.0, 24, 12, 10.0), DoseTrain(3.5, 0, 1, 10.0)])
def test_blocks_on_a_grid_equal_the_value_by_value_solution(step, tr):
    sys = transit_system(12.4, 5)
    t = np.arange(0.0, 400.0, step)
    grid = train(sys, tr, t)
    for order in (np.random.default_rng(0).permutation(t.size),  # unsorted: value by value
                  np.arange(t.size)[::-1]):  # decreasing
        shuffled = train(sys, tr, t[order])
        np.testing.assert_allclose(grid[order], shuffled, rtol=1e-13, atol=1e-13 * grid.max())
    order = np.random.default_rng(0).permutation(t.size)
    shuffled = train(sys, tr, t[order])
    # Blocks propagate whole states (E^q b), so far below the peak the agreement is
    # absolute: 1e-13 of the peak.
    np.testing.assert_allclose(grid[order], shuffled, rtol=1e-13, atol=1e-13 * grid.max())


def test_michaelis_menten_unsorted_times_and_mixed_doses_give_each_subject_its_own_curve():
    model = get_model("wu2012")
    cov = covariate_table({"weight_kg": 70})
    p = individual_parameters(model, cov.loc[[0, 0, 0]].reset_index(drop=True),
                              np.array([[0.3, -0.2, 0.5, 0.1], [0.0] * 4, [-0.4, 0.3, -0.6, 0.0]]))
    sys = solver.build_system(p, 0)
    dt = np.arange(6) * 24.0
    doses = np.array([[2.0] * 6, [5.0] * 6, [2.0] * 6])
    t = np.arange(0.0, 200.0, 0.5)
    both, _ = solver.mm_central(sys, p["vm"], p["km"], dt, doses, t)
    for i in range(3):
        one = solver.subset(sys, np.array([i]))
        alone, _ = solver.mm_central(one, p["vm"][i:i + 1], p["km"][i:i + 1], dt,
                                     doses[i:i + 1], t)
        np.testing.assert_array_equal(both[i], alone[0])
    order = np.random.default_rng(1).permutation(t.size)
    shuffled, _ = solver.mm_central(sys, p["vm"], p["km"], dt, doses, t[order])
    np.testing.assert_allclose(shuffled, both[:, order], rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("eta", [[1.5, -1.5, 1.9, 0.0], [-1.5, 1.5, -1.9, 0.5]])
def test_michaelis_menten_fast_and_slow_distribution_match_ode(eta, rel_err):
    # lam1 ~ 21/h and ~ 0.03/h: Gauss-Legendre panels refined for the fast subject only.
    model = get_model("wu2012")
    p = individual_parameters(model, covariate_table(), np.array([eta]))
    sys = solver.build_system(p, 0)
    dt = np.arange(3) * 168.0
    t = np.arange(0, 600, 1.0)
    got, _ = solver.mm_central(sys, p["vm"], p["km"], dt, np.full((1, 3), 6.0), t)
    ref = ode_central(sys, [(x, 6.0, "oral") for x in dt], t, vm=p["vm"][0], km=p["km"][0],
                      method="Radau")
    assert rel_err(got[0], ref) < 1e-6


def test_michaelis_menten_times_that_do_not_repeat_match_a_grid():
    # Daily doses sampled every 25 h: no two intervals share times since dose, so the
    # plan is value by value; it must agree with the same times taken from a fine grid.
    model = get_model("wu2012")
    p = individual_parameters(model, covariate_table())
    sys = solver.build_system(p, 0)
    dt = np.arange(40) * 24.0
    doses = np.full((1, 40), 2.0)
    sparse = np.arange(0.0, 1000.0, 25.0)
    fine = np.arange(0.0, 1000.0, 1.0)
    got, _ = solver.mm_central(sys, p["vm"], p["km"], dt, doses, sparse)
    ref, _ = solver.mm_central(sys, p["vm"], p["km"], dt, doses, fine)
    np.testing.assert_allclose(got[0], ref[0, ::25], rtol=1e-12)


@pytest.mark.parametrize("compartments,n_doses", [(2, 5), (3, 5), (2, 1), (3, 1)])
def test_michaelis_menten_washout_cut_into_dosing_intervals_matches_one_long_interval(
        compartments, n_doses, rel_err):
    # On a grid, the time after the last dose is cut into intervals of the dosing
    # interval (a single dose: of 48 output steps), doses of nothing whose first-order gut
    # residual shares one response; with fewer output times than such intervals it stays
    # one long interval. Both are exact: they agree to rounding, and with the ODE over a
    # month of washout.
    if compartments == 3:
        p, sys = mm_system3()
    else:
        p = individual_parameters(get_model("wu2012"), covariate_table())
        sys = solver.build_system(p, 0)
    dt = np.arange(n_doses) * 24.0
    doses = np.full((1, n_doses), 3.0)
    grid = np.arange(0.0, 840.5, 0.5)
    few = np.array([100.5, 839.5])  # 29 or more intervals after the last dose, 2 times
    got, state = solver.mm_central(sys, p["vm"], p["km"], dt, doses, grid, end_h=800.0)
    alone, state_alone = solver.mm_central(sys, p["vm"], p["km"], dt, doses, few,
                                           end_h=800.0)
    np.testing.assert_allclose(got[0, np.searchsorted(grid, few)], alone[0], rtol=1e-12)
    for a, b in zip(state, state_alone, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    ref = ode_central(sys, [(x, 3.0, "oral") for x in dt], grid, vm=p["vm"][0],
                      km=p["km"][0])
    assert rel_err(got[0], ref) < 1e-6


@pytest.mark.parametrize("n_doses,widest", [(84, 24), (1, 48)])
def test_michaelis_menten_washout_on_a_grid_costs_responses_of_one_interval(n_doses,
                                                                              widest):
    # Daily doses (or one dose) then outputs to 2,184 h: the responses are evaluated at
    # the times since dose of one dosing interval (one dose: 48 output steps), not at
    # every hour after the last dose, so the cost does not grow with the washout.
    p = individual_parameters(get_model("wu2012"), covariate_table())
    sys = solver.build_system(p, 0)
    plan, _ = solver.mm_plan(sys, p["vm"], p["km"], np.arange(n_doses) * 24.0,
                             np.full((1, n_doses), 1.0), np.arange(2185.0))
    assert max(part.basis.shape[2] for part in plan.parts) == widest


def test_wright_omega_is_the_lambert_w_of_exp_to_machine_precision():
    from scipy import special

    from pkdose.solver import wright_omega

    z = np.concatenate([np.linspace(-745, 700, 20001), np.linspace(-40, 40, 40001)])
    with np.errstate(all="ignore"):
        ref = np.real(special.lambertw(np.exp(z)))
    ok = np.isfinite(ref) & (ref > 0)
    w = wright_omega(z)
    assert np.all(np.abs(w[ok] - ref[ok]) <= 1e-14 * ref[ok])
    big = np.array([501.0, 1e4, 1e8])  # exp(z) overflows: the defining equation instead
    wb = wright_omega(big)
    assert np.allclose(wb + np.log(wb), big, rtol=1e-15, atol=0)


def test_an_extreme_fast_mode_with_long_output_steps_stays_bounded_and_accurate():
    # A posterior draw with a tiny V1 (fastest mode ~1.3e4/h) sampled days apart asked
    # the Michaelis-Menten quadrature for gigabytes of uniform panels (0.4 GB here; a
    # posterior draw in pkdose individual was killed at 24 GB) before graded panels.
    import tracemalloc

    from pkdose.model import get_model
    from pkdose.regimen import compile_trains
    from pkdose.regimen_text import parse_regimen
    from pkdose.simulation import concentrations, prepare

    prep = prepare(get_model("wu2012").with_params(v1=1e-3))
    trains = compile_trains(parse_regimen("sirolimus 6 mg weekly"))
    coarse = np.array([0.0, 2.0, 144.0, 338.0, 504.0])
    tracemalloc.start()
    got = concentrations(prep, trains, coarse)["conc_ng_ml"][0]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6  # measured 2 MB
    fine = np.linspace(0.0, 504.0, 5041)  # 0.1 h steps: a few panels per step
    ref = concentrations(prep, trains, fine)["conc_ng_ml"][0][np.searchsorted(fine, coarse)]
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


# --- three-compartment disposition -----------------------------------------------------

#: A sirolimus-like three-compartment disposition (L/h, L): eigenvalue rates ~1.3, 0.08 and
#: 0.009 /h, far apart.
THREE = {"cl": 12.0, "v1": 100.0, "q": 60.0, "v2": 300.0, "q2": 20.0, "v3": 1500.0}


def system3(n_chain=1, ka=0.9, ktr=None, **kw):
    p = {k: np.array([float(v)]) for k, v in {**THREE, **kw}.items()}
    if n_chain:
        p["ktr" if ktr is not None else "ka"] = np.array([ktr if ktr is not None else ka])
    return solver.build_system(p, n_chain)


def triexponential(cl, v1, q, v2, q2, v3):
    """Eigenvalues (roots of the characteristic cubic, numpy.roots) and central amplitudes
    a_i = (k21 - l_i)(k31 - l_i) / prod_{j != i} (l_j - l_i) of a unit central bolus:
    the textbook partial fractions, independent of the solver's symmetric form."""
    k10, k12, k21, k13, k31 = cl / v1, q / v1, q / v2, q2 / v1, q2 / v3
    c2 = k10 + k12 + k13 + k21 + k31
    c1 = k10 * k21 + k10 * k31 + k12 * k31 + k13 * k21 + k21 * k31
    c0 = k10 * k21 * k31
    lam = np.sort(np.roots([1.0, -c2, c1, -c0]).real)[::-1]
    amp = [(k21 - li) * (k31 - li) / np.prod([lj - li for lj in lam if lj != li]) for li in lam]
    return lam, np.array(amp)


def test_three_compartment_iv_bolus_matches_the_triexponential_hand_formula():
    sys = system3(n_chain=0)
    lam, amp = triexponential(**THREE)
    np.testing.assert_allclose(sys.lam[0], lam, rtol=1e-13)
    t = np.linspace(0, 1000, 1001)
    got = train(sys, DoseTrain(0, 0, 1, 5.0, route="iv"), t)
    expected = 5.0 * np.sum(amp[:, None] * np.exp(-lam[:, None] * t), axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-15)


def test_three_compartment_modes_reproduce_the_state_matrix_exponential():
    # exp(A t) from the modal amplitudes against scipy's expm of the state matrix.
    from scipy.linalg import expm

    sys = system3(n_chain=0)
    a_mat = solver.system_matrix(sys)[0]
    for t in (0.0, 0.3, 7.0, 200.0):
        modal = np.einsum("kji,i->kj", sys.modes[0], np.exp(-sys.lam[0] * t))
        np.testing.assert_allclose(modal, expm(a_mat * t), rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("kind", ["oral daily", "oral weekly", "iv bolus", "infusion",
                                  "transit 4", "transit = fastest rate", "transit = slowest rate"])
def test_three_compartment_trains_match_ode(kind, rel_err):
    base = system3(n_chain=0)
    if kind.startswith("transit"):
        ktr = {"transit 4": 12.4, "transit = fastest rate": base.lam[0, 0],
               "transit = slowest rate": base.lam[0, 2]}[kind]
        n_chain = 5 if kind == "transit 4" else 3
        sys = system3(n_chain=n_chain, ktr=ktr)
    else:
        sys = system3(n_chain=1)
    t = np.linspace(0, 700, 1401)
    infusions, events = [], []
    if kind == "infusion":
        tr = DoseTrain(2.0, 24, 10, 4.0, route="infusion", infusion_h=1.5)
        infusions = [(2.0 + 24.0 * k, 1.5, 4.0 / 1.5) for k in range(10)]
    else:
        ii, n = (168.0, 3) if kind == "oral weekly" else (24.0, 12)
        route = "iv" if kind == "iv bolus" else "oral"
        tr = DoseTrain(0, ii, n, 3.0, route=route)
        events = [(ii * k, 3.0, route) for k in range(n)]
    got = train(sys, tr, t)
    ref = ode_central(sys, events, t, infusions=infusions)
    assert not np.any(np.isnan(got))
    assert rel_err(got, ref) < 1e-7


@pytest.mark.parametrize("k31_factor", [1.0, 1.0 + 1e-12, 1.0 + 1e-7, 1.0 + 1e-3])
def test_three_compartment_with_coinciding_eigenvalues_matches_ode(k31_factor, rel_err):
    # k21 = k31 makes k21 an exact eigenvalue (a mode the central compartment never sees);
    # weak, equal couplings put the other two close to it as well.
    v2 = 500.0
    q = v2 * 0.05
    sys = system3(n_chain=1, cl=2.0, v1=40.0, q=q, v2=v2, q2=q * 3.0,
                  v3=q * 3.0 / (0.05 * k31_factor))
    assert np.all(np.isfinite(sys.modes))
    t = np.linspace(0, 600, 1201)
    got = train(sys, DoseTrain(0, 24, 15, 2.0), t)
    ref = ode_central(sys, [(24.0 * k, 2.0, "oral") for k in range(15)], t)
    assert rel_err(got, ref) < 1e-7


def test_three_compartment_with_a_nearly_decoupled_compartment_matches_ode(rel_err):
    # A third compartment whose exchange rate k31 equals the slow rate of the other two and
    # whose coupling is tiny: two eigenvalues ~1e-7 apart, both seen by the central
    # compartment (partial fractions would divide by that gap). The curve must be the
    # two-compartment one to within the coupling, and match the ODE.
    two = system(0.9, cl=2.0, v1=40.0, q=25.0, v2=500.0)
    q2 = 1e-8
    sys = system3(n_chain=1, cl=2.0, v1=40.0, q=25.0, v2=500.0, q2=q2,
                  v3=q2 / float(two.lam[0, 1]))
    assert np.min(-np.diff(sys.lam[0])) < 1e-6
    t = np.linspace(0, 600, 1201)
    tr = DoseTrain(0, 24, 15, 2.0)
    got = train(sys, tr, t)
    ref = ode_central(sys, [(24.0 * k, 2.0, "oral") for k in range(15)], t)
    assert rel_err(got, ref) < 1e-7
    np.testing.assert_allclose(got, train(two, tr, t), rtol=1e-6, atol=1e-12)


def test_three_compartment_steady_state_is_the_limit_and_auc_is_f_dose_over_cl():
    from scipy.integrate import simpson

    sys = system3(n_chain=1)
    t = np.linspace(0, 168, 168 * 20 + 1)
    ss = train(sys, DoseTrain(0, 168, math.inf, 6.0), t, f=0.4, ss=True)
    long = train(sys, DoseTrain(0, 168, 300, 6.0), 168 * 299 + t, f=0.4)
    np.testing.assert_allclose(ss, long, rtol=1e-10)
    assert simpson(ss, x=t) / THREE["v1"] == pytest.approx(0.4 * 6.0 / THREE["cl"], rel=1e-6)
    inf_ss = train(sys, DoseTrain(0, 24, math.inf, 4.0, route="infusion", infusion_h=3.0),
                   t[:481], ss=True)
    inf_long = train(sys, DoseTrain(0, 24, 3000, 4.0, route="infusion", infusion_h=3.0),
                     24 * 2990 + t[:481])
    np.testing.assert_allclose(inf_ss, inf_long, rtol=1e-10)


@pytest.mark.parametrize("dose,ii,n", [(6.0, 168, 3), (2.0, 24, 8), (40.0, 168, 2)])
def test_three_compartment_michaelis_menten_matches_ode(dose, ii, n, rel_err):
    p, sys = mm_system3()
    assert sys.lam.shape == (1, 3)
    dt = np.arange(n) * float(ii)
    t = np.arange(0, n * ii + 96, 0.5)
    got, state = solver.mm_central(sys, p["vm"], p["km"], dt, np.full((1, n), dose), t)
    ref = ode_central(sys, [(x, dose, "oral") for x in dt], t, vm=p["vm"][0], km=p["km"][0])
    assert len(state) == 4  # gut, central and both peripherals
    assert rel_err(got[0], ref) < 1e-6


@pytest.mark.parametrize("base", ["wu2012", "golubovic2019"])
def test_three_compartment_model_file_simulates_per_subject_and_reaches_steady_state(base):
    # A shipped model given a third compartment through its TOML schema (disposition = 3,
    # q2 and v3): each subject's curve is the same alone and in a block, and the steady
    # state is the curve after many cycles.
    import tomllib
    from importlib import resources

    import pandas as pd

    from pkdose.model import model_from_dict
    from pkdose.regimen_text import parse_regimen
    from pkdose.simulation import concentrations, prepare, steady_state_concentrations

    raw = tomllib.loads(resources.files("pkdose.models").joinpath(f"{base}_sirolimus.toml")
                        .read_text())
    raw["structure"]["disposition"] = 3
    raw["parameters"]["q2"] = {"value": 20.0, "unit": "L/h"}
    raw["parameters"]["v3"] = {"value": 1500.0, "unit": "L"}
    raw["iiv"]["parameters"] = ["q2", "v3"]
    raw["iiv"]["omega"] = [[0.1, 0.0], [0.0, 0.1]]
    m = model_from_dict(raw)
    rng = np.random.default_rng(2)
    prep = prepare(m, pd.DataFrame({"weight_kg": np.linspace(50, 110, 4)}),
                   rng.normal(0.0, 0.4, size=(4, 2)))
    assert prep.system.lam.shape == (4, 3)
    reg = parse_regimen("sirolimus 6 mg weekly")
    t = np.arange(0.0, 169.0)
    whole = concentrations(prep, reg.trains(), t)["conc_ng_ml"]
    for i in (0, 3):
        alone = concentrations(prep.rows(i, i + 1), reg.trains(), t)["conc_ng_ml"]
        np.testing.assert_array_equal(alone[0], whole[i])
    ss = steady_state_concentrations(prep, reg, t)["conc_ng_ml"]
    # The slowest half-life is ~3-5 days: 60 weeks settle to far below 1e-9.
    late = concentrations(prep, reg.trains(), 168.0 * 60 + t)["conc_ng_ml"]
    np.testing.assert_allclose(ss, late, rtol=1e-8)


# --- parallel zero-order and first-order absorption with lag (Mo 2025) -------------------


def parallel(sys, tr, times, fr, tk0, tlag, f=1.0, ss=False):
    n = sys.n
    amount = np.full(n, float(tr.amount))
    plans = solver.parallel_plans(sys, tr, amount, np.full(n, f), np.broadcast_to(fr, (n,)),
                                  np.broadcast_to(tk0, (n,)), np.broadcast_to(tlag, (n,)),
                                  np.asarray(times, float), steady_state=ss)
    return sum(pl.values() for pl in plans)


def test_parallel_absorption_one_compartment_matches_the_hand_formula():
    # Zero-order arm: (R/k)(1 - e^{-k min(t, D)}) e^{-k (t - D)+}; first-order arm: the
    # Bateman function shifted by the lag.
    ka, cl, v, dose, fr, dur, lag, f = 2.0, 6.0, 40.0, 5.0, 0.62, 1.12, 0.63, 0.8
    k = cl / v
    t = np.linspace(0, 72, 289)
    got = parallel(system(ka, cl, v), DoseTrain(0, 0, 1, dose), t, fr, dur, lag, f=f)[0]
    rate = f * fr * dose / dur
    on = np.minimum(t, dur)
    zero = rate / k * -np.expm1(-k * on) * np.exp(-k * (t - on))
    s = np.maximum(t - lag, 0.0)
    first = f * (1 - fr) * dose * ka / (ka - k) * (np.exp(-k * s) - np.exp(-ka * s))
    np.testing.assert_allclose(got, zero + first, rtol=1e-11, atol=1e-15)


def mo_like(compartments=2, n=1):
    p = {"cl": 7.11, "v1": 47.66, "q": 14.32, "v2": 205.94, "ka": 9.48}
    if compartments == 3:
        p |= {"q2": 3.0, "v3": 600.0}
    return solver.build_system({k: np.full(n, v) for k, v in p.items()}, 1)


def parallel_ode(sys, doses, t, fr, dur, lag, f=1.0):
    events = [(t0 + lag, f * (1 - fr) * amt, "oral") for t0, amt in doses]
    infusions = [(t0, dur, f * fr * amt / dur) for t0, amt in doses]
    return ode_central(sys, events, t, infusions=infusions)


@pytest.mark.parametrize("compartments", [2, 3])
@pytest.mark.parametrize("ii,n", [(0.0, 1), (12.0, 14), (24.0, 10), (168.0, 3)])
def test_parallel_absorption_trains_match_ode(compartments, ii, n, rel_err):
    sys = mo_like(compartments)
    t = np.arange(0.0, (n - 1) * ii + 150.0, 0.25)
    got = parallel(sys, DoseTrain(0.0, ii, n, 5.0), t, 0.62, 1.12, 0.63)[0]
    ref = parallel_ode(sys, [(ii * k, 5.0) for k in range(n)], t, 0.62, 1.12, 0.63)
    assert rel_err(got, ref) < 1e-7


def test_parallel_absorption_gives_each_subject_its_own_duration_lag_and_fraction(rel_err):
    # Between-subject variability on tk0, tlag and fr_zo: subjects solved together, each
    # against its own ODE, and bitwise equal to the subject solved alone.
    fr = np.array([0.3, 0.62, 0.9])
    dur = np.array([0.5, 1.12, 4.0])
    lag = np.array([2.0, 0.63, 0.0])
    sys = mo_like(n=3)
    t = np.arange(0.0, 200.0, 0.5)
    tr = DoseTrain(1.0, 24.0, 5, 5.0)
    got = parallel(sys, tr, t, fr, dur, lag)
    for i in range(3):
        ref = parallel_ode(solver.subset(sys, np.array([i])), [(1.0 + 24.0 * k, 5.0)
                                                              for k in range(5)],
                           t, fr[i], dur[i], lag[i])
        assert rel_err(got[i], ref) < 1e-7
        alone = parallel(solver.subset(sys, np.array([i])), tr, t, fr[i], dur[i], lag[i])
        np.testing.assert_array_equal(alone[0], got[i])


@pytest.mark.parametrize("compartments", [2, 3])
def test_parallel_absorption_steady_state_is_the_limit_and_auc_is_f_dose_over_cl(compartments):
    from scipy.integrate import simpson

    sys = mo_like(compartments)
    # Simpson piece by piece between the kinks (lag end 0.63 h, zero-order end 1.12 h).
    pieces = [np.linspace(a, b, 2001) for a, b in ((0, 0.63), (0.63, 1.12), (1.12, 24))]
    t = np.concatenate(pieces)
    ss = parallel(sys, DoseTrain(0, 24, math.inf, 5.0), t, 0.62, 1.12, 0.63, f=0.7, ss=True)[0]
    long = parallel(sys, DoseTrain(0, 24, 400, 5.0), 24 * 399 + t, 0.62, 1.12, 0.63, f=0.7)[0]
    np.testing.assert_allclose(ss, long, rtol=1e-10)
    auc = sum(simpson(ss[2001 * i:2001 * (i + 1)], x=x) for i, x in enumerate(pieces))
    assert auc / 47.66 == pytest.approx(0.7 * 5.0 / 7.11, rel=1e-9)


@pytest.mark.parametrize("ss", [False, True])
def test_parallel_absorption_input_ending_on_an_output_time_is_counted_once(ss):
    # As for infusions: 22.99999 + 1.00001 is not exactly 24, and the running zero-order
    # input and the ended one must agree on which side of the end a time falls.
    sys = mo_like()
    tr = DoseTrain(22.99999, 24.0, math.inf if ss else 60, 5.0)
    base = 0.0 if ss else 24.0 * 40
    t = base + np.array([23.999999, 24.0, 24.000001])
    c = parallel(sys, tr, t, 1.0 - 1e-12, 1.00001, 0.5, ss=ss)[0]
    assert np.ptp(c) < 1e-5 * c.max()


def test_parallel_absorption_lag_longer_than_the_dosing_interval_matches_ode(rel_err):
    # Between-subject variability on tlag (CV 91 % in Mo 2025) can put a lag beyond a
    # 12-hourly interval: the dose still counts only once it has arrived.
    sys = mo_like()
    t = np.arange(0.0, 200.0, 0.25)
    got = parallel(sys, DoseTrain(0.0, 12.0, 10, 5.0), t, 0.62, 1.12, 30.0)[0]
    ref = parallel_ode(sys, [(12.0 * k, 5.0) for k in range(10)], t, 0.62, 1.12, 30.0)
    assert rel_err(got, ref) < 1e-7


def test_transit_integral_between_the_series_and_the_closed_form_is_exact():
    """A_m(d) = P(m, d)/d^m for 2 <= d < m by its positive series (plain numpy), against
    the closed form P(m, d) = 1 - exp(-d) sum_{j<m} d^j/j! (exact in this range for small
    m: no cancellation to speak of, tolerance 1e-13) and scipy's gammainc (1e-12: scipy's
    own error, the series agrees with 50-digit mpmath to 5e-16 where checked)."""
    from scipy import special

    from pkdose.solver import _a_fn

    for m in (3, 4, 5):
        d = np.linspace(2.0, m, 50, endpoint=False)
        closed = -np.expm1(np.log(sum(d ** j / math.factorial(j) for j in range(m))) - d)
        np.testing.assert_allclose(_a_fn(m, d), closed / d ** m, rtol=1e-13, atol=0)
    for m in (6, 12, 30, 60):
        d = np.linspace(2.0, m, 400, endpoint=False)
        np.testing.assert_allclose(_a_fn(m, d), special.gammainc(m, d) / d ** m,
                                   rtol=1e-12, atol=0)
