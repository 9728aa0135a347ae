"""Parent-metabolite models given intravenously (temsirolimus -> sirolimus), solved exactly.

The parent is infused into its central compartment (zero-order input for ``D`` hours; a
bolus when ``D`` is 0), distributes to a peripheral compartment and is cleared; its
clearance from the central compartment forms the metabolite, which has one compartment of
its own. With amounts in mg of each molecule the states ``x = (parent central, parent
peripheral, metabolite)`` obey the linear system ``dx/dt = A x + b u(t)`` with

    A[m, c] = kf = ratio * CL / V1,   A[m, m] = -km = -CL_m / V_m,

``ratio`` the metabolite's molar mass over the parent's (mg of metabolite per mg of parent
converted), and the parent block the mammillary disposition of :mod:`pkdose.solver`.

A train of ``n`` doses at ``t0 + k ii`` is summed without a loop over doses. With ``z`` the
state at the end of one unit-amount infusion, ``E = exp(A ii)`` and ``q`` the number of
infusions finished by time ``t``, the finished ones contribute

    exp(A s) (I - E)^-1 (I - E^q) z,     s = time since the end of the last finished one,

(``q -> inf`` at steady state), and an infusion under way for ``r`` hours adds the state
``w(r)`` of an infusion started ``r`` ago. ``z``, ``w(r)`` and ``E`` come from matrix
exponentials (scaling and squaring, :func:`pkdose.solver.matrix_exponential`), and
``exp(A s)`` from closed forms: the metabolite formed from a parent mode of rate ``lam``
decays as ``(exp(-lam s) - exp(-km s)) / (km - lam)``, evaluated through the one-stage
chain kernel of the solver, which stays exact when ``lam == km`` (no division by a rate
difference). See ``docs/solver.md``, section "Parent and metabolite".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pkdose import solver
from pkdose.errors import PkdoseError
from pkdose.regimen import DoseTrain

#: Slack on dose-time arithmetic (h): a time within this of an infusion's end counts as
#: after it, so grid points built by adding floats fall on the intended side.
_TIME_EPS_H = 1e-9
#: States of the largest system: two parent compartments and the metabolite.
N_STATES_MAX = 3


@dataclass(frozen=True)
class Chain:
    """Per-subject rate constants of a parent-metabolite system (arrays of shape (n,)).

    ``parent`` is the parent's disposition (no absorption chain); ``kf`` the formation
    rate constant times the molar-mass ratio (1/h, mg of metabolite per h per mg of parent
    in the central compartment); ``km`` the metabolite's elimination rate constant (1/h);
    ``v_m`` its volume (L).
    """

    parent: solver.System
    kf: np.ndarray
    km: np.ndarray
    v_m: np.ndarray

    @property
    def n(self) -> int:
        return self.kf.shape[0]

    @property
    def n_states(self) -> int:
        return self.parent.n_states + 1

    @property
    def metabolite(self) -> int:
        """Index of the metabolite in the state vector (after the parent's states)."""
        return self.parent.n_states

    def rows(self, lo: int, hi: int) -> Chain:
        """The subjects ``lo:hi``."""
        idx = slice(lo, hi)
        return Chain(solver.subset(self.parent, idx), self.kf[idx], self.km[idx],
                     self.v_m[idx])


def build_chain(params: Mapping[str, np.ndarray], molar_ratio: float) -> Chain:
    """The system of one parent-metabolite model from its individual parameters.

    Parameters
    ----------
    params : mapping of str to ndarray
        ``cl, v1`` (and ``q, v2``) of the parent, ``cl_m, v_m`` of the metabolite (L/h, L),
        one value per subject.
    molar_ratio : float
        Metabolite molar mass over the parent's, times the fraction of parent clearance
        that forms the metabolite.
    """
    parent = solver.build_system(params, 0)
    v_m = np.asarray(params["v_m"], float)
    return Chain(parent, molar_ratio * parent.k10, np.asarray(params["cl_m"], float) / v_m,
                 v_m)


def chain_matrix(ch: Chain) -> np.ndarray:
    """State matrix A (n, S, S): parent central, parent peripheral(s), metabolite."""
    s = ch.n_states
    mat = np.zeros((ch.n, s, s))
    mat[:, :s - 1, :s - 1] = solver.system_matrix(ch.parent)
    mat[:, ch.metabolite, ch.parent.central] = ch.kf
    mat[:, ch.metabolite, ch.metabolite] = -ch.km
    return mat


def _decay_pair(lam: np.ndarray, km: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``(exp(-lam s) - exp(-km s)) / (km - lam)`` (n, T), exact when ``lam == km``.

    The one-stage chain kernel ``k int_0^s exp(-km (s - v)) exp(-k v) dv`` at ``k = lam``,
    divided by ``lam``.
    """
    return solver.chain_kernel(1, lam[:, None], km[:, None], s) / lam[:, None]


def basis(ch: Chain, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parent-central and metabolite amounts (each (n, S, T)) at times ``s`` (T,) >= 0
    after a unit amount in each state."""
    s = np.asarray(s, float)
    n, p, c = ch.n, ch.parent.lam.shape[1], ch.parent.central
    su = np.broadcast_to(s, (n, s.size))
    parent = np.zeros((n, ch.n_states, s.size))
    parent[:, :p, :] = solver.basis_central(ch.parent, s)
    met = np.empty_like(parent)
    lam, a = ch.parent.lam, ch.parent.a
    pairs = [_decay_pair(lam[:, i], ch.km, su) for i in range(p)]
    met[:, c, :] = ch.kf[:, None] * sum(a[:, i, None] * pairs[i] for i in range(p))
    if p == 2:
        # From the peripheral compartment the parent central amount is
        # k21 (exp(-lam2 s) - exp(-lam1 s)) / (lam1 - lam2); each exponential feeds the
        # metabolite through its own decay pair (lam1 > lam2 whenever q > 0).
        gap = (lam[:, 0] - lam[:, 1])[:, None]
        met[:, c + 1, :] = (ch.kf * ch.parent.k21)[:, None] * (pairs[1] - pairs[0]) / gap
    met[:, ch.metabolite, :] = np.exp(-ch.km[:, None] * su)
    return parent, met


def infusion_states(ch: Chain, r_h: np.ndarray, duration_h: float) -> np.ndarray:
    """States (n, R, S) ``r_h`` hours into a unit-amount infusion into the parent central
    compartment lasting ``duration_h`` (0 < r <= duration); a bolus when it is 0."""
    r_h = np.asarray(r_h, float)
    s = ch.n_states
    if duration_h == 0.0:
        out = np.zeros((ch.n, r_h.size, s))
        out[:, :, ch.parent.central] = 1.0
        return out
    mat = chain_matrix(ch)
    aug = np.zeros((ch.n, r_h.size, s + 1, s + 1))
    aug[:, :, :s, :s] = mat[:, None] * r_h[None, :, None, None]
    aug[:, :, ch.parent.central, s] = r_h / duration_h
    return solver.matrix_exponential(aug)[..., :s, s]


def _power_states(e_mat: np.ndarray, z: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``E^q z`` (n, Q, S) for each of the sorted whole numbers ``counts`` (Q,) >= 0,
    each from the previous by binary powering of the gap: the work grows with the number
    of distinct counts and the log of the gaps, not with the number of doses."""
    out = np.empty((z.shape[0], counts.size, z.shape[1]))
    cur, prev = z.copy(), 0
    for j, q in enumerate(counts):
        gap, base = int(q) - prev, e_mat
        while gap:
            if gap & 1:
                cur = np.einsum("nij,nj->ni", base, cur)
            gap >>= 1
            if gap:
                base = base @ base
        out[:, j] = cur
        prev = int(q)
    return out


def train_amounts(ch: Chain, train: DoseTrain, amount_mg: np.ndarray, times_h: np.ndarray,
                  duration_h: float, steady_state: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Parent-central and metabolite amounts (mg, each (n, T)) of one dose train.

    Parameters
    ----------
    ch : Chain
    train : DoseTrain
        Doses at ``t0_h + k ii_h``; with ``steady_state`` the train has been given
        forever (doses at every whole ``k``) and ``times_h`` lie in one of its cycles.
    amount_mg : ndarray (n,)
        Parent dose per subject.
    times_h : ndarray (T,)
    duration_h : float
        Infusion duration (0: bolus); must not exceed the dosing interval.
    """
    t = np.asarray(times_h, float)
    n, ii = ch.n, float(train.ii_h)
    single = not steady_state and (train.n == 1 or ii == 0.0)
    if not single and duration_h > ii * (1 + 1e-12):
        raise PkdoseError(f"an infusion over {duration_h:g} h is longer than the dosing "
                          f"interval of {ii:g} h; give a shorter infusion or a longer interval")
    rel = t - train.t0_h
    if single:
        ii, last = math.inf, np.where(rel >= -_TIME_EPS_H, 0.0, -1.0)
    else:
        # Index of the last dose started by t (every whole index at steady state).
        last = np.floor((rel + _TIME_EPS_H) / ii)
        if not steady_state:
            last = np.minimum(last, train.n - 1)
    if single:
        since = rel
    else:
        since = rel - (last if steady_state else np.maximum(last, 0.0)) * ii
    running = (steady_state | (last >= 0)) & (since < duration_h - _TIME_EPS_H)
    finished = last + np.where(running, 0.0, 1.0)  # infusions ended by t
    parent_mg, met_mg = np.zeros((n, t.size)), np.zeros((n, t.size))
    ends = infusion_states(ch, np.array([duration_h]), duration_h)[:, 0, :]
    idx = np.flatnonzero(np.ones(t.size, bool) if steady_state else finished >= 1)
    if idx.size:
        # Time since the end of the last finished infusion (the previous dose's while
        # one is running).
        s_end = since[idx] + np.where(running[idx], ii, 0.0) - duration_h
        pb, mb = basis(ch, np.maximum(s_end, 0.0))
        size = (n, ch.n_states, idx.size)
        if single:
            v = np.broadcast_to(ends[:, :, None], size)
        else:
            e_mat = solver.matrix_exponential(chain_matrix(ch) * ii)
            eye = np.eye(ch.n_states)
            if steady_state:
                v = np.broadcast_to(np.linalg.solve(eye - e_mat, ends[:, :, None]), size)
            else:
                counts, where = np.unique(finished[idx].astype(np.int64), return_inverse=True)
                powered = _power_states(e_mat, ends, counts)  # (n, Q, S)
                v = np.linalg.solve(eye - e_mat,
                                    (ends[:, None, :] - powered).transpose(0, 2, 1))[:, :, where]
        parent_mg[:, idx] = np.einsum("nst,nst->nt", pb, v)
        met_mg[:, idx] = np.einsum("nst,nst->nt", mb, v)
    run = np.flatnonzero(running & (since > 0))
    if run.size:
        r_vals, where = np.unique(since[run], return_inverse=True)
        w = infusion_states(ch, r_vals, duration_h)[:, where, :]
        parent_mg[:, run] += w[:, :, ch.parent.central]
        met_mg[:, run] += w[:, :, ch.metabolite]
    amount = np.asarray(amount_mg, float)[:, None]
    return parent_mg * amount, met_mg * amount


def amounts(ch: Chain, trains: Sequence[tuple[DoseTrain, np.ndarray, float]],
            times_h: np.ndarray, steady_state: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sum of :func:`train_amounts` over ``(train, amount_mg, duration_h)`` triples."""
    t = np.asarray(times_h, float)
    parent, met = np.zeros((ch.n, t.size)), np.zeros((ch.n, t.size))
    for train, amount, duration in trains:
        p_mg, m_mg = train_amounts(ch, train, amount, t, duration, steady_state)
        parent += p_mg
        met += m_mg
    return parent, met
