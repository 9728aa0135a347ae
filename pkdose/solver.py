"""Exact solution of the PK models for whole dose trains, vectorised over subjects and time.

Linear models (first-order or transit absorption into a 1- or 2-compartment disposition)
are solved in closed form. A train of ``m`` identical doses at interval ``ii`` is summed
without a loop over doses: with ``E = exp(A ii)`` and ``w = (I - E)^-1 b``,

    x(t) = (exp(A s) - exp(A (s + m ii))) w,        s = time since the train's last dose,

so the cost per output time is the same for one dose or a year of doses, and the periodic
steady state is the limit ``m -> inf``. ``exp(A u) w`` is evaluated for the central
compartment by closed forms that stay exact when the absorption rate equals a disposition
eigenvalue and when transit stages share one rate (repeated eigenvalues): every term is a
divided difference of the exponential, computed through incomplete-gamma / phi functions
instead of the textbook partial fractions, which divide by rate differences.

Michaelis-Menten absorption (Wu 2012) is non-linear only in the gut. The gut amount has an
exact solution (Lambert W) and the absorbed input drives the linear disposition; the
convolution is integrated with Gauss-Legendre quadrature in the log gut amount, where the
integrand is smooth. Once the gut holds less than ``1e-6 Km`` the absorption is first order
to within 1e-6 and the rest is solved in closed form. See ``docs/solver.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from pkdose.errors import PkdoseError
from pkdose.regimen import DEPOT_ROUTES, DoseTrain

#: Gut amount below which Michaelis-Menten absorption is treated as first order, as a
#: fraction of Km. The absorption rate then differs from first order by < 1e-6 relative.
MM_LINEAR_FRACTION = 1e-6
_GL_PANELS = 8
_GL_NODES = 12
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_NODES)


@dataclass(frozen=True)
class System:
    """Per-subject rate constants of the linear part (arrays of shape (n,))."""

    n_chain: int
    k: np.ndarray | None  # rate of each absorption stage (ka or ktr)
    k10: np.ndarray
    k12: np.ndarray
    k21: np.ndarray
    v1: np.ndarray
    lam: np.ndarray  # (n, p) disposition eigenvalue rates, fastest first
    a: np.ndarray  # (n, p) central-amount coefficients of unit central input

    @property
    def n(self) -> int:
        return self.k10.shape[0]

    @property
    def n_states(self) -> int:
        return self.n_chain + self.lam.shape[1]

    @property
    def central(self) -> int:
        """Index of the central compartment in the state vector."""
        return self.n_chain


def build_system(params: dict[str, np.ndarray], n_chain: int) -> System:
    """Micro-constants and disposition eigenvalues from clearance and volume parameters."""
    cl, v1 = np.asarray(params["cl"], float), np.asarray(params["v1"], float)
    k10 = cl / v1
    if "q" in params:
        k12 = params["q"] / v1
        k21 = params["q"] / params["v2"]
        s = k10 + k12 + k21
        # lam1 - lam2 = sqrt(disc) > 0 whenever q > 0; lam2 from the product avoids cancellation.
        disc = np.sqrt((k10 + k12 - k21) ** 2 + 4.0 * k12 * k21)
        lam1 = 0.5 * (s + disc)
        lam2 = k10 * k21 / lam1
        a1 = (lam1 - k21) / disc
        a2 = (k21 - lam2) / disc
        lam = np.stack([lam1, lam2], axis=1)
        a = np.stack([a1, a2], axis=1)
    else:
        k12 = np.zeros_like(k10)
        k21 = np.zeros_like(k10)
        lam = k10[:, None]
        a = np.ones_like(lam)
    k = None
    if n_chain:
        k = np.asarray(params["ka"] if "ka" in params else params["ktr"], float)
    return System(n_chain, k, k10, k12, k21, v1, lam, a)


def system_matrix(sys: System) -> np.ndarray:
    """State matrix A (n, S, S): absorption chain, then central, then peripheral."""
    n, s = sys.n, sys.n_states
    mat = np.zeros((n, s, s))
    for j in range(sys.n_chain):
        mat[:, j, j] = -sys.k
        nxt = j + 1
        mat[:, nxt, j] = sys.k
    c = sys.central
    mat[:, c, c] = -(sys.k10 + sys.k12)
    if sys.lam.shape[1] == 2:
        mat[:, c, c + 1] = sys.k21
        mat[:, c + 1, c] = sys.k12
        mat[:, c + 1, c + 1] = -sys.k21
    return mat


# --- divided differences of the exponential -------------------------------------------

_SERIES_TERMS = 60
#: Elements (subjects x times) per chunk in train sums: large enough to amortise Python
#: overhead, small enough for the working arrays to stay in cache.
_CHUNK_ELEMENTS = 1 << 20


def _series(coef_fn, d: np.ndarray) -> np.ndarray:
    """Sum_j coef_j (-d)^j by Horner's rule (d small)."""
    out = np.zeros_like(d)
    for j in range(_SERIES_TERMS - 1, -1, -1):
        out = out * (-d) + coef_fn(j)
    return out


def _a_fn(m: int, d: np.ndarray) -> np.ndarray:
    """A_m(d) = int_0^1 t^(m-1) exp(-d t) dt / (m-1)!, d >= 0."""
    if m == 1:
        return _phi1(d)
    out = np.empty_like(d)
    small = d < 2.0
    fact = math.factorial(m - 1)
    out[small] = _series(lambda j: 1.0 / (math.factorial(j) * (m + j) * fact), d[small])
    # Integer order: P(m, d) = 1 - exp(-d) sum_{j<m} d^j/j! exactly; for d >= m the
    # subtraction loses at most about a digit and costs a fraction of gammainc. In between
    # (2 <= d < m, long transit chains only) keep gammainc.
    far = d >= max(2.0, float(m))
    df = d[far]
    poly = np.ones_like(df)
    for j in range(m - 1, 0, -1):
        poly = poly * df / j + 1.0
    out[far] = -np.expm1(np.log(poly) - df) / df ** m
    mid = ~small & ~far
    out[mid] = special.gammainc(m, d[mid]) / d[mid] ** m
    return out


def _b_fn(m: int, d: np.ndarray) -> np.ndarray:
    """B_m(d) = phi_m(-d) = int_0^1 t^(m-1) exp(-d (1-t)) dt / (m-1)!, d >= 0."""
    if m == 1:
        return _phi1(d)
    out = np.empty_like(d)
    small = d < max(2.0, float(m))
    out[small] = _series(lambda j: 1.0 / math.factorial(j + m), d[small])
    big = ~small
    db = d[big]
    poly = np.zeros_like(db)
    for j in range(m):
        poly += (-db) ** j / math.factorial(j)
    out[big] = (np.exp(-db) - poly) / (-db) ** m
    return out


def chain_kernel(m: int, k: np.ndarray, lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Amount in a compartment eliminated at rate ``lam`` at time ``u`` after a unit amount
    entered a chain of ``m`` stages of rate ``k`` that feeds it.

    Equals ``k^m int_0^u exp(-lam (u - v)) v^(m-1) exp(-k v) / (m-1)! dv`` and is exact for
    ``lam == k``. Shapes broadcast: ``k``, ``lam`` (n, 1); ``u`` (n, T), ``u >= 0``.
    """
    d = np.abs(lam - k) * u
    lo = np.minimum(lam, k)
    if m == 1:  # A_1 = B_1 = phi_1; k u exp(-lo u) cannot overflow
        return k * u * np.exp(-lo * u) * _phi1(d)
    k, lam, u = np.broadcast_arrays(k, lam, u)
    d, lo = np.broadcast_to(d, u.shape), np.broadcast_to(lo, u.shape)
    pos = u > 0
    # (k u)^m exp(-lo u) in logs: (k u)^m alone overflows for long times and many stages.
    pref = np.where(pos, np.exp(m * np.log(np.where(pos, k * u, 1.0)) - lo * u), 0.0)
    slow_elim = lam <= k
    shape = np.empty_like(d)
    shape[slow_elim] = _a_fn(m, d[slow_elim])
    shape[~slow_elim] = _b_fn(m, d[~slow_elim])
    return pref * shape


def _phi1(x: np.ndarray) -> np.ndarray:
    """(1 - exp(-x)) / x for x >= 0, exact at 0."""
    x = np.asarray(x, float)
    pos = x > 0
    safe = np.where(pos, x, 1.0)
    return np.where(pos, -np.expm1(-safe) / safe, 1.0)


def free_central(sys: System, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Central amount at times ``u`` (n, T) after starting from state ``v`` (n, S), no input.

    ``u`` must be >= 0 (callers mask negative times).
    """
    lam = sys.lam[:, :, None]  # (n, p, 1)
    a = sys.a[:, :, None]
    uu = u[:, None, :]
    c = sys.central
    out = v[:, c, None] * np.sum(a * np.exp(-lam * uu), axis=1)
    if sys.lam.shape[1] == 2:
        gap = (sys.lam[:, 0] - sys.lam[:, 1])[:, None]
        # k21 (exp(-lam2 u) - exp(-lam1 u)) / (lam1 - lam2), without dividing by the gap.
        h_cp = sys.k21[:, None] * u * np.exp(-sys.lam[:, 1, None] * u) * _phi1(gap * u)
        out = out + v[:, c + 1, None] * h_cp
    for j in range(sys.n_chain):
        m = sys.n_chain - j
        if not np.any(v[:, j]):
            continue
        kern = chain_kernel(m, sys.k[:, None, None], lam, uu)
        out = out + v[:, j, None] * np.sum(a * kern, axis=1)
    return out


def step_central(sys: System, s: np.ndarray) -> np.ndarray:
    """Central amount during a unit-rate infusion into central that started ``s`` ago."""
    lam = sys.lam[:, :, None]
    return np.sum(sys.a[:, :, None] * s[:, None, :] * _phi1(lam * s[:, None, :]), axis=1)


# Pade(13) coefficients of Higham (2005), SIAM J Matrix Anal Appl 26:1179.
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def _expm(mat: np.ndarray) -> np.ndarray:
    """Matrix exponential of a stack (..., S, S) by scaling and squaring with Pade(13).

    Vectorised over the stack (scipy's expm loops over it in Python); one scaling for the
    whole stack, chosen for its largest 1-norm.
    """
    norm = float(np.max(np.sum(np.abs(mat), axis=-2), initial=0.0))
    squarings = max(0, int(math.ceil(math.log2(norm / _THETA13)))) if norm > _THETA13 else 0
    a = mat / (2.0 ** squarings)
    eye = np.broadcast_to(np.eye(a.shape[-1]), a.shape)
    b = _PADE13
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
             + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
        + b[0] * eye
    r = np.linalg.solve(v - u, v + u)
    for _ in range(squarings):
        r = r @ r
    return r


def _entry(sys: System, route: str) -> int:
    """State a dose of this route enters: the depot for absorbed routes, else central."""
    return 0 if route in DEPOT_ROUTES and sys.n_chain else sys.central


def _input_vector(sys: System, route: str) -> np.ndarray:
    b = np.zeros((sys.n, sys.n_states))
    b[:, _entry(sys, route)] = 1.0
    return b


def infusion_end_state(sys: System, duration_h: float, state: int | None = None) -> np.ndarray:
    """State (n, S) at the end of a unit-rate input lasting ``duration_h`` into ``state``
    (default central)."""
    a_mat = system_matrix(sys)
    s = sys.n_states
    aug = np.zeros((sys.n, s + 1, s + 1))
    aug[:, :s, :s] = a_mat * duration_h
    aug[:, sys.central if state is None else state, s] = duration_h
    return _expm(aug)[:, :s, s]


def step_depot_central(sys: System, s: np.ndarray) -> np.ndarray:
    """Central amount (n, T) during a unit-rate input into the depot that started ``s`` ago.

    The state is ``int_0^s exp(A v) b dv = exp(A s) w - w`` with ``w = A^-1 b``, so its
    central component is the unit-state responses (:func:`basis_central`) weighted by
    ``w``, minus ``w_central``: exact, with no quadrature. ``s`` is (len,) shared by all.
    """
    b = _input_vector(sys, "diet")
    w = np.linalg.solve(system_matrix(sys), b[:, :, None])[:, :, 0]
    basis = basis_central(sys, s)
    return np.einsum("nj,njt->nt", w, basis) - w[:, sys.central, None]


def subset(sys: System, idx: np.ndarray) -> System:
    """The system restricted to the subjects ``idx``."""
    return System(sys.n_chain, None if sys.k is None else sys.k[idx], sys.k10[idx],
                  sys.k12[idx], sys.k21[idx], sys.v1[idx], sys.lam[idx], sys.a[idx])


def basis_central(sys: System, s: np.ndarray) -> np.ndarray:
    """Central amount (n, S, len(s)) at times ``s`` (>= 0) after a unit amount in each state."""
    s = np.asarray(s, float)
    n, p = sys.n, sys.lam.shape[1]
    out = np.empty((n, sys.n_states, s.size))
    lam = sys.lam[:, :, None]  # (n, p, 1)
    a = sys.a[:, :, None]
    e = np.exp(-lam * s)  # (n, p, T)
    c = sys.central
    out[:, c, :] = np.einsum("npt,np->nt", e, sys.a)
    if p == 2:
        gap = (sys.lam[:, 0] - sys.lam[:, 1])[:, None]
        # k21 (exp(-lam2 s) - exp(-lam1 s)) / (lam1 - lam2), without dividing by the gap.
        out[:, c + 1, :] = sys.k21[:, None] * s * e[:, 1, :] * _phi1(gap * s)
    for j in range(sys.n_chain):
        kern = chain_kernel(sys.n_chain - j, sys.k[:, None, None], lam, s[None, None, :])
        out[:, j, :] = np.sum(a * kern, axis=1)
    return out


def _powers_times(e_mat: np.ndarray, w: np.ndarray, m_values: np.ndarray) -> np.ndarray:
    """E^m w for each (sorted, integer) m: (n, S, len(m_values))."""
    out = np.empty(w.shape + (len(m_values),))
    cur, m_cur = w, 0
    for i, m in enumerate(m_values.astype(np.int64)):
        gap = int(m - m_cur)
        if gap == 1:
            cur = np.einsum("nij,nj->ni", e_mat, cur)
        elif gap > 1:
            cur = np.einsum("nij,nj->ni", np.linalg.matrix_power(e_mat, gap), cur)
        out[:, :, i] = cur
        m_cur = m
    return out


def _gather_sum(coef: np.ndarray, inv_c: np.ndarray, basis: np.ndarray, inv_b: np.ndarray
                ) -> np.ndarray:
    """sum_j coef[:, j, inv_c] * basis[:, j, inv_b] without forming (n, S, T) arrays."""
    n_c, n_b = coef.shape[2], basis.shape[2]
    if n_c * n_b <= 2 * inv_c.size:
        # Regular grids visit most (m, s) pairs: one batched matrix product over all
        # pairs, then a single gather.
        table = np.matmul(coef.transpose(0, 2, 1), basis).reshape(coef.shape[0], -1)
        return np.take(table, inv_c * n_b + inv_b, axis=1)
    acc = np.take(coef[:, 0, :], inv_c, axis=1) * np.take(basis[:, 0, :], inv_b, axis=1)
    for j in range(1, coef.shape[1]):
        acc += np.take(coef[:, j, :], inv_c, axis=1) * np.take(basis[:, j, :], inv_b, axis=1)
    return acc


def _train_shared(sys: System, train: DoseTrain, inj: np.ndarray, rate: np.ndarray | None,
                  t0: float, times: np.ndarray, steady_state: bool, out: np.ndarray) -> None:
    """One train for subjects sharing its dose times; see :func:`train_central`.

    Every term is a linear combination of the responses to unit states, which depend on
    time only through the time since the last dose ``s`` and the number of doses ``m``.
    Those take few distinct values on a regular grid, so the special functions are
    evaluated once per distinct ``s`` and the results gathered.
    """
    n = sys.n
    out[:] = 0.0
    rel = times - t0
    ii = train.ii_h
    dur = train.infusion_h if rate is not None else 0.0
    periodic = not (train.n == 1 or ii == 0)
    running = s_run = count = None
    if rate is not None and periodic:
        # Infusions: the position in the current period decides both whether one is running
        # and how long ago the last one ended, so the two parts cannot disagree at an end.
        k = None if steady_state else np.floor(rel / ii)
        s_run = np.mod(rel, ii) if steady_state else np.maximum(rel - k * ii, 0.0)
        ended = s_run >= dur
        s_end = np.where(ended, s_run - dur, s_run - dur + ii)
        if steady_state:
            running = ~ended
        else:
            n_ended = k + ended
            count = np.clip(n_ended, 0.0, train.n)
            s_end = np.where(n_ended >= train.n, rel - dur - (train.n - 1) * ii, s_end)
            running = (k >= 0) & (k < train.n) & ~ended
    elif periodic:
        s_end = np.mod(rel, ii) if steady_state else None
        if not steady_state:
            count = np.clip(np.floor(rel / ii) + 1.0, 0.0, train.n)
            s_end = rel - (count - 1.0) * ii
    else:
        s_end = rel - dur
        if rate is not None:
            s_run = rel
            running = (rel >= 0) & (rel < dur)
    if not periodic:
        ok = s_end >= 0
        if np.any(ok):
            s_u, inv = np.unique(s_end[ok], return_inverse=True)
            vals = np.einsum("nj,njk->nk", inj, basis_central(sys, s_u))
            out[:, ok] = np.take(vals, inv, axis=1)
    else:
        e_mat = _expm(system_matrix(sys) * ii)
        w = np.linalg.solve(np.eye(sys.n_states)[None] - e_mat, inj[:, :, None])[:, :, 0]
        if steady_state:
            s_u, inv = np.unique(s_end, return_inverse=True)
            vals = np.einsum("nj,njk->nk", w, basis_central(sys, s_u))
            out[:, :] = np.take(vals, inv, axis=1)
        else:
            ok = count >= 1
            # Times during the train (fewer than n doses so far) and after its last dose
            # are summed separately: after it, m is fixed and s grows without bound.
            for idx in (np.flatnonzero(ok & (count < train.n)),
                        np.flatnonzero(count >= train.n)):
                if not idx.size:
                    continue
                s_u, inv_s = np.unique(s_end[idx], return_inverse=True)
                m_u, inv_m = np.unique(count[idx], return_inverse=True)
                basis = basis_central(sys, s_u)
                # (exp(A s) - exp(A (s + m ii))) w = exp(A s) (w - E^m w)
                coef = w[:, :, None] - _powers_times(e_mat, w, m_u)
                vals = _gather_sum(coef, inv_m, basis, inv_s)
                if idx[-1] - idx[0] + 1 == idx.size:  # sorted times: a contiguous block
                    out[:, idx[0]:idx[-1] + 1] = vals
                else:
                    out[:, idx] = vals
    if running is not None and np.any(running):
        # The infusion running now (started less than its duration ago).
        s_u, inv = np.unique(s_run[running], return_inverse=True)
        if train.route == "diet" and sys.n_chain:
            vals = rate[:, None] * step_depot_central(sys, s_u)
        else:
            u = np.broadcast_to(s_u[None, :], (n, len(s_u)))
            vals = rate[:, None] * step_central(sys, u)
        out[:, running] += np.take(vals, inv, axis=1)


def train_central(sys: System, train: DoseTrain, amount: np.ndarray, bio: np.ndarray,
                  tlag: np.ndarray, times: np.ndarray, steady_state: bool = False) -> np.ndarray:
    """Central amount (n, T) produced by one dose train.

    Parameters
    ----------
    amount : (n,) dose in mg per subject; ``bio`` (n,) is the bioavailable fraction for
        doses into the depot (oral, ip, sc, diet); ``tlag`` (n,) shifts oral doses
        (subjects are grouped by lag). A diet train with ``infusion_h > 0`` is a zero-order
        input into the depot over that time (:func:`pkdose.species.diet_trains`).
    steady_state : evaluate the periodic steady state (infinitely many past doses) instead.
    """
    times = np.asarray(times, float)
    oral = train.route == "oral"
    dose = np.asarray(amount, float) * (bio if train.route in DEPOT_ROUTES else 1.0)
    if steady_state and not (math.isinf(train.n) and train.ii_h > 0):
        raise PkdoseError("steady state needs a regimen that repeats indefinitely")
    rate = None
    if train.route == "diet" and train.infusion_h > 0:
        if train.n > 1 and train.infusion_h > train.ii_h:
            raise PkdoseError(f"a feeding phase of {train.infusion_h:g} h cannot repeat every "
                              f"{train.ii_h:g} h")
        rate = dose / train.infusion_h
        inj = infusion_end_state(sys, train.infusion_h, _entry(sys, "diet")) * rate[:, None]
    elif train.route == "infusion":
        if train.n > 1 and train.infusion_h > train.ii_h:
            raise PkdoseError(
                f"infusions of {train.infusion_h:g} h cannot repeat every {train.ii_h:g} h; "
                "shorten the infusion or lengthen the interval"
            )
        rate = dose / train.infusion_h
        inj = infusion_end_state(sys, train.infusion_h) * rate[:, None]
    else:
        inj = _input_vector(sys, train.route) * dose[:, None]
    lags = np.asarray(tlag, float) if oral else np.zeros(sys.n)
    out = np.empty((sys.n, times.size))
    # Subjects sharing a lag share dose times; chunks keep the gathered arrays in cache.
    chunk = max(1, _CHUNK_ELEMENTS // max(times.size, 1))
    for lag in np.unique(lags):
        group = np.flatnonzero(lags == lag)
        for lo in range(0, group.size, chunk):
            idx = group[lo:lo + chunk]
            sub = sys if idx.size == sys.n else subset(sys, idx)
            contiguous = idx[-1] - idx[0] + 1 == idx.size
            view = out[idx[0]:idx[-1] + 1] if contiguous else np.empty((idx.size, times.size))
            _train_shared(sub, train, inj[idx], None if rate is None else rate[idx],
                          train.t0_h + lag, times, steady_state, view)
            if not contiguous:
                out[idx] = view
    return out


# --- Michaelis-Menten absorption ------------------------------------------------------


def gut_amount(a0: np.ndarray, s: np.ndarray, vm: np.ndarray, km: np.ndarray) -> np.ndarray:
    """Gut amount s hours after it held ``a0``, for dA/dt = -Vm A / (Km + A) (exact)."""
    a0, s, vm, km = np.broadcast_arrays(a0, s, vm, km)
    # Fixed-mg doses and no variability on Vm, Km (Wu 2012): every subject's gut is the
    # same, so evaluate the Lambert W once and share it (the function is elementwise).
    if a0.ndim and a0.shape[0] > 1 and all(np.array_equal(x, np.broadcast_to(x[:1], x.shape))
                                           for x in (a0, s, vm, km)):
        return np.broadcast_to(_gut_amount(a0[:1], s[:1], vm[:1], km[:1]), a0.shape).copy()
    return _gut_amount(a0, s, vm, km)


def _gut_amount(a0: np.ndarray, s: np.ndarray, vm: np.ndarray, km: np.ndarray) -> np.ndarray:
    z = np.log(np.maximum(a0, 1e-300) / km) + (a0 - vm * s) / km
    out = np.empty_like(z)
    # W(exp(z)): principal branch; for large z use the asymptotic log form to avoid overflow.
    big = z > 500
    out[~big] = np.real(special.lambertw(np.exp(z[~big])))
    zb = z[big]
    w = zb - np.log(zb)
    for _ in range(4):
        w = w - (w + np.log(w) - zb) / (1.0 + 1.0 / w)
    out[big] = w
    return np.where(a0 > 0, km * out, 0.0)


def _time_to_amount(a0, a1, vm, km):
    """Time for the gut to fall from a0 to a1 (a1 <= a0)."""
    return (km * np.log(a0 / a1) + (a0 - a1)) / vm


def mm_input_integrals(a0: np.ndarray, s: np.ndarray, vm: np.ndarray, km: np.ndarray,
                       lam: np.ndarray) -> np.ndarray:
    """I(s) = int_0^s exp(-lam (s - v)) r(v) dv for Michaelis-Menten input r from gut a0.

    Integrated over y = ln(a0 / A) (A = gut amount), where the integrand
    ``A exp(-lam (s - v(A)))`` is smooth; ``s`` must not exceed the time the gut needs to
    fall to its linear threshold. Shapes: a0, s (n, T); vm, km (n, 1); lam (n, p, 1) ->
    result (n, p, T).
    """
    a_s = gut_amount(a0, s, vm, km)
    with np.errstate(divide="ignore"):
        y_hi = np.where((a0 > 0) & (s > 0),
                        np.log(np.maximum(a0, 1e-300) / np.maximum(a_s, 1e-300)), 0.0)
    y_hi = y_hi[:, None, :]
    c_minus_1 = lam * km[:, None, :] / vm[:, None, :] - 1.0
    # For a fast mode only the last stretch of absorption matters: contributions from
    # more than 46/(c-1) in y before the end are below exp(-46) of the peak.
    width = np.where(c_minus_1 > 0, 46.0 / np.maximum(c_minus_1, 1e-12), np.inf)
    y_lo = np.maximum(0.0, y_hi - width)
    a0e = a0[:, None, :]
    vme, kme = vm[:, None, :], km[:, None, :]
    se = s[:, None, :]
    return _gl_panels(y_lo, (y_hi - y_lo) / _GL_PANELS, _GL_PANELS, a0e, kme, vme, se, lam)


#: Quadrature nodes x output times (per subject and mode) up to which all nodes are
#: evaluated in one array operation instead of a loop over nodes (loop overhead dominates
#: short outputs). Depends on the output length only, never on the number of subjects,
#: so a subject's result does not depend on its block.
_GL_VECTOR_MAX = 1 << 13


def _gl_panels(lo, h, panels, a0e, kme, vme, se, lam):
    """Sum over ``panels`` Gauss-Legendre panels of width ``h`` from ``lo`` in y of
    ``A exp(-lam (s - v(A)))`` (the Michaelis-Menten convolution integrand)."""
    shape = np.broadcast_shapes(h.shape, lam.shape)
    if shape[-1] * shape[1] * panels * _GL_NODES <= _GL_VECTOR_MAX:
        frac = ((np.arange(panels) + 0.5)[:, None] + 0.5 * _GL_X[None, :]).ravel()
        wgt = np.tile(_GL_W, panels) * 0.5
        y = lo[..., None] + h[..., None] * frac
        a0x = a0e[..., None]
        v = (kme[..., None] * y + a0x * (-np.expm1(-y))) / vme[..., None]
        terms = (a0x * np.exp(-y)) * np.exp(-lam[..., None] * (se[..., None] - v))
        return h * np.sum(terms * wgt, axis=-1)
    total = np.zeros(shape)
    for p in range(panels):
        mid = lo + (p + 0.5) * h
        for x, wgt in zip(_GL_X, _GL_W, strict=True):
            y = mid + 0.5 * h * x
            v = (kme * y + a0e * (-np.expm1(-y))) / vme
            total += (wgt * 0.5) * h * (a0e * np.exp(-y)) * np.exp(-lam * (se - v))
    return total


def _mm_integrals_sorted(a0: np.ndarray, s: np.ndarray, vm: np.ndarray, km: np.ndarray,
                         lam: np.ndarray) -> np.ndarray:
    """:func:`mm_input_integrals` for times sorted along each row, integrated step by step.

    ``I(s_k) = exp(-lam (s_k - s_{k-1})) I(s_{k-1}) + int_{s_{k-1}}^{s_k} ...``: the decay
    is exact and each increment is a short stretch of the same smooth integrand in
    y = ln(a0 / A), so one or a few Gauss-Legendre panels integrate it as accurately as
    the full 8 panels integrate the whole range; the cost per output time falls ~8 fold.
    Falls back to the full quadrature where increments are too long for that.
    """
    n_t = s.shape[1]
    if n_t < 3 or np.any(np.diff(s, axis=1) < 0):
        return mm_input_integrals(a0, s, vm, km, lam)
    a_s = gut_amount(a0, s, vm, km)
    with np.errstate(divide="ignore"):
        y = np.where((a0 > 0) & (s > 0),
                     np.log(np.maximum(a0, 1e-300) / np.maximum(a_s, 1e-300)), 0.0)
    h_all = np.diff(y, axis=1)[:, None, :]  # (n, 1, T-1)
    kme, vme = km[:, None, :], vm[:, None, :]
    # d/dy of the log integrand is lam (Km + A)/Vm - 1; keep its change over a panel <= 6
    # (where 12 Gauss-Legendre nodes are exact to rounding for an exponential).
    slope = np.maximum(np.abs(lam * (kme + a_s[:, None, :-1]) / vme - 1.0),
                       np.abs(lam * (kme + a_s[:, None, 1:]) / vme - 1.0))
    panels = int(math.ceil(float(np.max(slope * h_all, initial=0.0)) / 6.0)) or 1
    if panels > _GL_PANELS:
        return mm_input_integrals(a0, s, vm, km, lam)
    a0e = a0[:, None, 1:]
    se = s[:, None, 1:]
    lo = y[:, None, :-1]
    inc = _gl_panels(lo, h_all / panels, panels, a0e, kme, vme, se, lam)
    decay = np.exp(-lam * np.diff(s, axis=1)[:, None, :])
    out = np.empty(inc.shape[:2] + (n_t,))
    out[:, :, :1] = mm_input_integrals(a0[:, :1], s[:, :1], vm, km, lam)
    for k in range(1, n_t):
        out[:, :, k] = decay[:, :, k - 1] * out[:, :, k - 1] + inc[:, :, k - 1]
    return out


def _projectors(sys: System) -> tuple[np.ndarray, np.ndarray]:
    """Central and peripheral components of the disposition modes for unit central input.

    Returns (pc, pp), each (n, p): central(t) = sum_i pc_i f_i(t), peripheral likewise,
    where f_i is the input convolved with exp(-lam_i t).
    """
    if sys.lam.shape[1] == 1:
        return sys.a, np.zeros_like(sys.a)
    gap = sys.lam[:, 0] - sys.lam[:, 1]
    pp = np.stack([-sys.k12 / gap, sys.k12 / gap], axis=1)
    return sys.a, pp


def _disp_free(sys: System, c0: np.ndarray, p0: np.ndarray, u: np.ndarray):
    """Central and peripheral amounts (n, T) after free evolution of the disposition."""
    lam = sys.lam
    if lam.shape[1] == 1:
        e = np.exp(-lam[:, 0, None] * u)
        return c0[:, None] * e, np.zeros_like(e)
    l1, l2 = lam[:, 0, None], lam[:, 1, None]
    gap = l1 - l2
    e1, e2 = np.exp(-l1 * u), np.exp(-l2 * u)
    dd = u * e2 * _phi1(gap * u)  # (e2 - e1) / gap
    k12, k21 = sys.k12[:, None], sys.k21[:, None]
    a1, a2 = sys.a[:, 0, None], sys.a[:, 1, None]
    c_c = a1 * e1 + a2 * e2
    # p->p = ((lam1 - k10 - k12) e1 + (k10 + k12 - lam2) e2) / gap, and since
    # lam1 + lam2 = k10 + k12 + k21 its coefficients are a2 and a1.
    p_p = a2 * e1 + a1 * e2
    c = c0[:, None] * c_c + p0[:, None] * k21 * dd
    p = c0[:, None] * k12 * dd + p0[:, None] * p_p
    return c, p


def gut_profile(a0: np.ndarray, s: np.ndarray, vm: np.ndarray, km: np.ndarray) -> np.ndarray:
    """Gut amount ``s`` after holding ``a0``, as :func:`mm_segment` models it: exact
    Michaelis-Menten down to the linear threshold, first order (ka = Vm/Km) below it."""
    thr = MM_LINEAR_FRACTION * km
    t_sw = np.where(a0 > thr, _time_to_amount(np.maximum(a0, thr), thr, vm, km), 0.0)
    s_nl = np.minimum(s, t_sw)
    g = gut_amount(a0, s_nl, vm, km)
    return g * np.exp(-(vm / km) * (s - s_nl))


def mm_segment(sys: System, vm, km, a0, c0, p0, s):
    """Gut, central, peripheral amounts s (n, T) after a segment starts from (a0, c0, p0).

    Exact gut; disposition driven by Michaelis-Menten input until the gut reaches its
    linear threshold, then the closed-form first-order solution.
    """
    a0b = np.broadcast_to(a0[:, None], s.shape)
    vmc, kmc = vm[:, None], km[:, None]
    thr = MM_LINEAR_FRACTION * kmc
    t_sw = np.where(a0b > thr, _time_to_amount(np.maximum(a0b, thr), thr, vmc, kmc), 0.0)
    s_nl = np.minimum(s, t_sw)
    lam = sys.lam[:, :, None]
    # Every output past the switch for all subjects needs the same integral (up to the
    # switch): compute it once instead of once per output time.
    clipped = np.all(s >= t_sw, axis=0)
    if np.count_nonzero(clipped) > 1:
        rep = int(np.argmax(clipped))
        cols = np.flatnonzero(~clipped | (np.arange(s.shape[1]) == rep))
        sub = _mm_integrals_sorted(a0b[:, cols], s_nl[:, cols], vmc, kmc, lam)
        integ = np.empty((sys.n, lam.shape[1], s.shape[1]))
        integ[:, :, cols] = sub
        integ[:, :, clipped] = sub[:, :, np.searchsorted(cols, rep), None]
    else:
        integ = _mm_integrals_sorted(a0b, s_nl, vmc, kmc, lam)  # (n, p, T)
    pc, pp = _projectors(sys)
    c_in = np.sum(pc[:, :, None] * integ, axis=1)
    p_in = np.sum(pp[:, :, None] * integ, axis=1)
    c_free, p_free = _disp_free(sys, c0, p0, s_nl)
    c_nl, p_nl = c_free + c_in, p_free + p_in
    gut_nl = gut_amount(a0b, s_nl, vmc, kmc)
    # Linear phase after the switch: first-order gut at ka = Vm/Km.
    rest = s - s_nl
    lin = rest > 0
    if np.any(lin):
        ka = (vm / km)[:, None]
        g = gut_nl * np.exp(-ka * rest)
        c_lin, p_lin = _disp_free_elementwise(sys, c_nl, p_nl, rest)
        # What is left in the gut reaches the disposition through one first-order stage.
        kern = chain_kernel(1, ka[:, :, None], sys.lam[:, :, None], rest[:, None, :])
        c_lin = c_lin + gut_nl * np.sum(pc[:, :, None] * kern, axis=1)
        p_lin = p_lin + gut_nl * np.sum(pp[:, :, None] * kern, axis=1)
        gut = np.where(lin, g, gut_nl)
        c = np.where(lin, c_lin, c_nl)
        p = np.where(lin, p_lin, p_nl)
        return gut, c, p
    return gut_nl, c_nl, p_nl


def _disp_free_elementwise(sys: System, c0: np.ndarray, p0: np.ndarray, u: np.ndarray):
    """Like :func:`_disp_free` with start amounts given per output element (n, T)."""
    c_unit, p_from_c = _disp_free(sys, np.ones(sys.n), np.zeros(sys.n), u)
    c_from_p, p_unit = _disp_free(sys, np.zeros(sys.n), np.ones(sys.n), u)
    return c0 * c_unit + p0 * c_from_p, c0 * p_from_c + p0 * p_unit


def _unit_free(sys: System, u: np.ndarray):
    """Central from unit central, central from unit peripheral, and the same for peripheral."""
    n = sys.n
    uu = np.broadcast_to(np.asarray(u, float)[None, :], (n, np.size(u)))
    c_c, p_c = _disp_free(sys, np.ones(n), np.zeros(n), uu)
    c_p, p_p = _disp_free(sys, np.zeros(n), np.ones(n), uu)
    return c_c, c_p, p_c, p_p


_SCANS: dict[bytes, np.ndarray] = {}


def _gut_scan(doses: np.ndarray, gut0: np.ndarray, vm: np.ndarray, km: np.ndarray,
              lengths: np.ndarray) -> np.ndarray:
    """Gut amount (rows, K) at the start of every interval, just after its dose.

    Remembered for a few inputs: every block of a population with a shared gut (fixed-mg
    doses, no variability on Vm, Km) repeats the same scan.
    """
    key = b"|".join(np.ascontiguousarray(x, float).tobytes()
                    for x in (doses, gut0, vm, km, lengths))
    if key in _SCANS:
        return _SCANS[key]
    rows, k_events = doses.shape
    a0 = np.empty((rows, k_events))
    g = np.array(gut0, float)
    for k in range(k_events):
        a0[:, k] = g + doses[:, k]
        if k + 1 < k_events:
            g = gut_profile(a0[:, k], np.full(rows, lengths[k]), vm, km)
    if rows == 1:
        if len(_SCANS) >= 16:
            _SCANS.clear()
        a0.setflags(write=False)
        _SCANS[key] = a0
    return a0


def mm_central(sys: System, vm: np.ndarray, km: np.ndarray, dose_times: np.ndarray,
               doses: np.ndarray, times: np.ndarray,
               start_state: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
               end_h: float | None = None,
               ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Central amount (n, T) for oral doses with Michaelis-Menten absorption.

    The gut is scanned dose by dose (exact, cheap). The disposition is linear, so within a
    dosing interval it is the free evolution of its state at the interval start plus a
    particular part that depends only on the gut amount at the start and the time since;
    intervals whose gut amounts agree to 1e-13 (all of them, once a periodic regimen has
    settled) share that part, which is integrated once per distinct time since dose.

    Parameters
    ----------
    dose_times : (D,) sorted dose times (h), shared by all subjects.
    doses : (n, D) dose amounts reaching the gut (mg).
    times : (T,) output times (>= 0).
    start_state : (gut, central, peripheral) at time 0, default empty.
    end_h : also return the state at this time.

    Returns
    -------
    central : (n, T)
    state : (gut, central, peripheral) at ``end_h`` (default: just after the last dose).
    """
    n = sys.n
    gut0, c0, p0 = start_state if start_state is not None else (np.zeros(n),) * 3
    times = np.asarray(times, float)
    dose_times = np.asarray(dose_times, float)
    doses = np.asarray(doses, float).reshape(n, dose_times.size)
    if dose_times.size == 0 or dose_times[0] > 0:
        # A dose of nothing at time 0 starts the first interval from the start state.
        dose_times = np.concatenate([[0.0], dose_times])
        doses = np.concatenate([np.zeros((n, 1)), doses], axis=1)
    k_events = dose_times.size
    horizon = max(float(times.max(initial=0.0)), end_h or 0.0, float(dose_times[-1]))
    lengths = np.append(np.diff(dose_times), horizon - dose_times[-1])

    # Gut amount at the start of every interval (exact scan; a few operations per dose).
    gut = np.broadcast_to(np.asarray(gut0, float), (n,))
    vm_b, km_b = np.broadcast_to(vm, (n,)), np.broadcast_to(km, (n,))
    # Fixed-mg doses and no variability on Vm, Km (Wu 2012): one gut for everyone.
    rows = 1 if all(np.array_equal(x, np.broadcast_to(x[:1], x.shape))
                    for x in (doses, gut, vm_b, km_b)) else n
    a0 = np.broadcast_to(_gut_scan(doses[:rows], gut[:rows], vm_b[:rows], km_b[:rows],
                                   lengths), (n, k_events))
    scale = max(float(np.max(doses, initial=0.0)), 1e-300)
    keys = [(lengths[k] if k + 1 < k_events else -1.0,
             np.round(a0[:, k] / scale, 13).tobytes()) for k in range(k_events)]
    classes: dict = {}
    cls = np.array([classes.setdefault(key, len(classes)) for key in keys])
    rep = np.zeros(len(classes), dtype=int)
    for k in range(k_events - 1, -1, -1):
        rep[cls[k]] = k

    # Disposition state at every interval start: x_{k+1} = Phi(L_k) x_k + z_{class(k)}.
    zc: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    phi: dict[float, tuple[np.ndarray, ...]] = {}
    xs = np.empty((n, 2, k_events))
    x = np.stack([np.array(c0, float), np.array(p0, float)], axis=1)
    for k in range(k_events):
        xs[:, :, k] = x
        if k + 1 == k_events:
            break
        cid, length = cls[k], lengths[k]
        if cid not in zc:
            _, cz, pz = mm_segment(sys, vm, km, a0[:, rep[cid]], np.zeros(n), np.zeros(n),
                                   np.full((n, 1), length))
            zc[cid] = (cz[:, 0], pz[:, 0])
        if length not in phi:
            phi[length] = tuple(m[:, 0] for m in _unit_free(sys, np.array([length])))
        f_cc, f_cp, f_pc, f_pp = phi[length]
        cz, pz = zc[cid]
        x = np.stack([f_cc * x[:, 0] + f_cp * x[:, 1] + cz,
                      f_pc * x[:, 0] + f_pp * x[:, 1] + pz], axis=1)

    out = np.empty((n, times.size))
    if times.size:
        k_of = np.searchsorted(dose_times, times, side="right") - 1
        s = times - dose_times[k_of]
        s_u, inv_s = np.unique(s, return_inverse=True)
        f_cc, f_cp, _, _ = _unit_free(sys, s_u)
        out[:] = (np.take(np.ascontiguousarray(xs[:, 0]), k_of, axis=1)
                  * np.take(f_cc, inv_s, axis=1)
                  + np.take(np.ascontiguousarray(xs[:, 1]), k_of, axis=1)
                  * np.take(f_cp, inv_s, axis=1))
        # Particular parts of every class side by side, added in one gather.
        parts, where, offset = [], np.empty(times.size, dtype=np.int64), 0
        for cid in np.unique(cls[k_of]):
            sel = np.flatnonzero(cls[k_of] == cid)
            su, inv = np.unique(s[sel], return_inverse=True)
            _, part, _ = mm_segment(sys, vm, km, a0[:, rep[cid]], np.zeros(n), np.zeros(n),
                                    np.broadcast_to(su[None, :], (n, su.size)).copy())
            parts.append(part)
            where[sel] = offset + inv
            offset += su.size
        out += np.take(np.concatenate(parts, axis=1), where, axis=1)

    k_end = k_events - 1 if end_h is None else int(
        np.searchsorted(dose_times, end_h, side="right") - 1)
    t_end = dose_times[k_end] if end_h is None else end_h
    g1, c1, p1 = mm_segment(sys, vm, km, a0[:, k_end], xs[:, 0, k_end], xs[:, 1, k_end],
                            np.full((n, 1), t_end - dose_times[k_end]))
    return out, (g1[:, 0], c1[:, 0], p1[:, 0])


def mm_steady_state(sys: System, vm: np.ndarray, km: np.ndarray, offsets: np.ndarray,
                    doses: np.ndarray, period_h: float, times: np.ndarray,
                    max_cycles: int = 500) -> np.ndarray:
    """Central amount (n, T) over one cycle of the periodic steady state.

    The gut carries over only a small residual between cycles, so its cycle-start amount
    is found by iterating the exact gut map to a fixed point; the disposition is then
    affine in its cycle-start state, x_end = Phi x_start + z, and its fixed point is solved
    exactly: x* = (I - Phi)^-1 z.
    """
    n = sys.n
    offsets = np.asarray(offsets, float)
    gut = np.zeros(n)
    for _ in range(max_cycles):
        g = gut.copy()
        t_prev = 0.0
        for j, off in enumerate(offsets):
            g = gut_amount(g, np.full(n, off - t_prev), vm, km) + doses[:, j]
            t_prev = off
        g = gut_amount(g, np.full(n, period_h - t_prev), vm, km)
        converged = np.all(np.abs(g - gut) <= 1e-15 * np.maximum(doses.max(axis=1), 1e-300))
        gut = g
        if converged:
            break
    zero = np.zeros(n)
    _, (_, cz, pz) = mm_central(sys, vm, km, offsets, doses, np.zeros(0),
                                start_state=(gut, zero, zero), end_h=period_h)
    u = np.full((n, 1), period_h)
    c_c, p_c = _disp_free(sys, np.ones(n), np.zeros(n), u)
    c_p, p_p = _disp_free(sys, np.zeros(n), np.ones(n), u)
    phi = np.stack([np.stack([c_c[:, 0], c_p[:, 0]], -1), np.stack([p_c[:, 0], p_p[:, 0]], -1)], 1)
    x = np.linalg.solve(np.eye(2)[None] - phi, np.stack([cz, pz], -1)[:, :, None])[:, :, 0]
    out, _ = mm_central(sys, vm, km, offsets, doses, times, start_state=(gut, x[:, 0], x[:, 1]))
    return out
