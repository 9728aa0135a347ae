"""Exact solution with clearance and bioavailability that change in steps over time.

A co-medication that starts or stops (:mod:`pkdose.comedication`) changes CL and F in
constant steps. Within a step the model is the ordinary one with that step's CL and F,
so the solution there is the free evolution of the state carried in at the step's start
plus the response to the doses given during the step, both exact:

* linear models (first-order or transit absorption): the doses of a step are the dose
  trains clipped to it, solved by the ordinary plans (:mod:`pkdose.solver`); the state
  carried across the step's end is ``exp(A L) x + sum over its trains``, each train's part
  a matrix geometric sum ``exp(A s) (I + E + ... + E^(m-1)) b`` with ``E = exp(A ii)``,
  formed by doubling, so a step costs the same for one dose or a year of doses;
* Michaelis-Menten absorption (Wu 2012, pkdose 2026): the gut is non-linear but does not
  depend on CL, so its input is separable from the disposition; the solver's
  :func:`pkdose.solver.mm_plan` already starts from a carried state (gut, central,
  peripherals) and returns the state at the step's end.

A dose's bioavailability is fixed when it enters the gut, so a dose given while F changes
takes the continuous F at its own time (the steps approximate CL only); where F is
constant a step's doses stay one train. Infusions, zero-order input and per-subject lag
times would carry input across a step edge that the state does not hold, so those models
are refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pkdose import solver
from pkdose.comedication import FactorSteps
from pkdose.errors import PkdoseError
from pkdose.regimen import DEPOT_ROUTES, DoseTrain, single_doses

__all__ = ["clip_train", "segmented_central", "train_state"]


def clip_train(tr: DoseTrain, lo_h: float, hi_h: float) -> DoseTrain | None:
    """The doses of ``tr`` at times in ``[lo_h, hi_h)`` as one train (None if none)."""
    if tr.ii_h == 0:
        return tr if lo_h <= tr.t0_h < hi_h else None
    k_lo = 0 if lo_h <= tr.t0_h else math.ceil((lo_h - tr.t0_h) / tr.ii_h - 1e-9)
    k_hi = tr.n if not math.isfinite(hi_h) else min(
        tr.n, max(0, math.ceil((hi_h - tr.t0_h) / tr.ii_h - 1e-9)))
    n = k_hi - k_lo
    if n <= 0:
        return None
    return DoseTrain(tr.t0_h + k_lo * tr.ii_h, tr.ii_h if n > 1 else 0.0, n, tr.amount,
                     tr.unit, tr.route, tr.infusion_h)


def _geometric(e_mat: np.ndarray, m: int) -> np.ndarray:
    """I + E + ... + E^(m-1) for a stack of matrices, by doubling (log2 m products)."""
    eye = np.broadcast_to(np.eye(e_mat.shape[-1]), e_mat.shape)
    total = np.zeros_like(e_mat)
    power = eye.copy()               # E^(terms summed so far)
    block, block_pow = eye.copy(), e_mat.copy()  # sum of 2^j terms, E^(2^j)
    while m:
        if m & 1:
            total = total + power @ block
            power = power @ block_pow
        m >>= 1
        if m:
            block = block + block_pow @ block
            block_pow = block_pow @ block_pow
    return total


def train_state(sys: solver.System, tr: DoseTrain, amount: np.ndarray, at_h: float,
                lag_h: float = 0.0) -> np.ndarray:
    """Full state (n, S) at ``at_h`` of a finite train whose doses all entered before it.

    ``amount`` (n,) is the absorbed amount of one dose (mg, bioavailability applied).
    """
    a_mat = solver.system_matrix(sys)
    b = np.zeros((sys.n, sys.n_states))
    b[:, solver.entry_state(sys, tr.route)] = amount
    last = tr.last_h + lag_h
    x = b
    if tr.n > 1:
        x = (_geometric(solver.expm(a_mat * tr.ii_h), int(tr.n)) @ b[:, :, None])[:, :, 0]
    return (solver.expm(a_mat * (at_h - last)) @ x[:, :, None])[:, :, 0]


def _with_factors(prep, cl: float, f: float):
    """The prepared subjects with CL and F multiplied (a new system)."""
    from pkdose.simulation import Prepared

    p = dict(prep.params)
    p["cl"] = np.asarray(p["cl"], float) * cl
    p["f"] = np.asarray(p["f"], float) * f
    return Prepared(prep.model, prep.cov, p, solver.build_system(p, prep.model.n_chain))


def check_supported(prep, trains: Sequence[DoseTrain]) -> float:
    """The common lag time (h), or a clear refusal for what the step solver cannot carry."""
    model, p = prep.model, prep.params
    if model.absorption == "parallel_zero_first_order":
        raise PkdoseError(f"a co-medication that starts or stops cannot be solved with "
                          f"{model.name}: its zero-order input runs across the steps of the "
                          "interaction; give the co-medication for the whole course or "
                          "choose another model", option="model")
    for tr in trains:
        if tr.route not in DEPOT_ROUTES and tr.route != "iv":
            raise PkdoseError(f"a co-medication that starts or stops is solved for oral and "
                              f"bolus doses only, not {tr.route} doses")
        if tr.route == "diet" or f"ka_{tr.route}" in p:
            raise PkdoseError(f"a co-medication that starts or stops is not solved for "
                              f"{tr.route} doses with {model.name}")
    lag = np.asarray(p.get("tlag", 0.0), float)
    if lag.size and np.ptp(lag) > 0:
        raise PkdoseError(f"a co-medication that starts or stops needs one lag time for all "
                          f"subjects; {model.name} gives them different ones")
    return float(lag.flat[0]) if lag.size else 0.0


def segmented_central(prep, trains: Sequence[DoseTrain], times_h: np.ndarray,
                      steps: FactorSteps) -> np.ndarray:
    """Central amounts (n, T) with CL and F changing in ``steps``; exact for the steps.

    Parameters
    ----------
    prep : pkdose.simulation.Prepared
        Subjects with the whole-course co-medications applied (no steps of their own).
    trains : sequence of DoseTrain
    times_h : (T,) output times (h)
    steps : FactorSteps
    """
    from pkdose.simulation import central_amounts, dose_amounts

    times_h = np.asarray(times_h, float)
    n = len(prep.cov)
    out = np.zeros((n, times_h.size))
    if not trains:
        return out
    lag = check_supported(prep, trains)
    origin = min(0.0, min(tr.t0_h for tr in trains), float(times_h.min(initial=0.0)))
    edges = [origin, *[e for e in steps.edges_h if e > origin], math.inf]
    # Steps before the origin hold nothing; the first one in use is that holding it.
    first = int(np.searchsorted(steps.edges_h, origin, side="right"))
    horizon = float(times_h.max(initial=origin))
    mm = prep.model.absorption == "michaelis_menten"
    if mm:
        doses = single_doses(trains, horizon)
        dose_t = np.array([d.t0_h for d in doses])
        dose_mg = (np.stack([dose_amounts(d, prep.cov) for d in doses], 1) if doses
                   else np.zeros((n, 0)))
        state = None
    else:
        x = np.zeros((n, prep.system.n_states))
    for j, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        if lo > horizon:
            break
        k = min(first + j, steps.n_steps - 1)
        sub = _with_factors(prep, float(steps.cl[k]), float(steps.f[k]))
        sel = np.flatnonzero((times_h >= lo) & (times_h < hi))
        if mm:
            inside = (dose_t >= lo) & (dose_t < hi)
            f_dose = steps.dose_f(dose_t[inside])
            absorbed = dose_mg[:, inside] * (prep.params["f"][:, None] * f_dose[None, :])
            end = None if not math.isfinite(hi) else hi - lo
            plan, state = solver.mm_plan(sub.system, sub.params["vm"], sub.params["km"],
                                         dose_t[inside] - lo, absorbed, times_h[sel] - lo,
                                         start_state=state, end_h=end)
            out[:, sel] = plan.values()
            continue
        clipped = [c for tr in trains
                   if (c := clip_train(tr, lo - lag, hi - lag)) is not None]
        # (train, F factor of its doses): while F changes, dose by dose at its own time.
        parts = ([(d, float(fd)) for c in clipped for d in single_doses([c], c.last_h)
                  for fd in steps.dose_f(np.array([d.t0_h]))]
                 if clipped and steps.f_changes(lo, hi)
                 else [(c, float(steps.f[k])) for c in clipped])
        if sel.size:
            for c, fd in parts:
                out[:, sel] += central_amounts(_with_factors(prep, float(steps.cl[k]), fd),
                                               [c], times_h[sel])
            basis = solver.basis_central(sub.system, times_h[sel] - lo)
            out[:, sel] += np.einsum("nj,njt->nt", x, basis)
        if not math.isfinite(hi):
            break
        a_mat = solver.system_matrix(sub.system)
        x = (solver.expm(a_mat * (hi - lo)) @ x[:, :, None])[:, :, 0]
        for c, fd in parts:
            bio = prep.params["f"] * fd * prep.params.get(f"f_{c.route}", 1.0)
            x += train_state(sub.system, c, dose_amounts(c, prep.cov) * bio, hi, lag)
    return out
