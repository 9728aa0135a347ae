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
convolution is carried from one output time to the next, each step integrated with
Gauss-Legendre quadrature in time (the absorption rate is analytic in a strip of half-width
pi Km/Vm). Once the gut holds less than ``1e-6 Km`` the absorption is first order to within
1e-6 and the steps are exact. See ``docs/solver.md``.

Output is planned as blocks (:class:`Plan`): on a regular grid every dosing interval
visits the same times since dose, so a stretch of intervals is one small matrix product
per subject (coefficients per interval x responses per time since dose), written straight
into the caller's array in cache-sized chunks.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from pkdose.errors import PkdoseError
from pkdose.regimen import DEPOT_ROUTES, DoseTrain

#: Gut amount below which Michaelis-Menten absorption is treated as first order, as a
#: fraction of Km. The absorption rate then differs from first order by < 1e-6 relative.
MM_LINEAR_FRACTION = 1e-6
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
    # Three compartments only: central <-> second peripheral rates, and the modal
    # amplitudes modes[:, k, j, i] of mode i in disposition state k (0 central, 1 and 2
    # the peripherals) after a unit amount in disposition state j.
    k13: np.ndarray | None = None
    k31: np.ndarray | None = None
    modes: np.ndarray | None = None

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
    k13 = k31 = modes = None
    if "q2" in params:
        k12, k21 = params["q"] / v1, params["q"] / params["v2"]
        k13, k31 = params["q2"] / v1, params["q2"] / params["v3"]
        lam, modes = _three_compartment_modes(k10, k12, k21, k13, k31)
        a = modes[:, 0, 0, :]
    elif "q" in params:
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
    return System(n_chain, k, k10, k12, k21, v1, lam, a, k13, k31, modes)


def _three_compartment_modes(k10: np.ndarray, k12: np.ndarray, k21: np.ndarray,
                             k13: np.ndarray, k31: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalue rates (n, 3), fastest first, and modal amplitudes (n, 3, 3, 3) of the
    mammillary three-compartment disposition.

    In the scaled amounts ``y_k = x_k / sqrt(V_k)`` the disposition matrix is symmetric,
    ``S = [[k10 + k12 + k13, -sqrt(k12 k21), -sqrt(k13 k31)], [., k21, 0], [., 0, k31]]``
    (flows between compartments are symmetric in concentrations), so its eigenvalues are
    real and its eigenvectors ``U`` orthonormal: ``exp(A t) = D U exp(-L t) U^T D^-1``
    with ``D = diag(sqrt(V_k))``. The symmetric eigensolver is backward stable and every
    amplitude ``sqrt(V_k/V_j) U_ki U_ji`` is bounded, so eigenvalues that nearly coincide
    (or coincide: k21 = k31 makes k21 an eigenvalue) cost no accuracy; no expression
    divides by an eigenvalue gap. The slowest rate is then taken from the determinant,
    ``lam1 lam2 lam3 = k10 k21 k31``, which keeps its relative accuracy when it is far
    below the others.
    """
    n = k10.shape[0]
    s = np.zeros((n, 3, 3))
    s[:, 0, 0] = k10 + k12 + k13
    s[:, 1, 1] = k21
    s[:, 2, 2] = k31
    s[:, 0, 1] = s[:, 1, 0] = -np.sqrt(k12 * k21)
    s[:, 0, 2] = s[:, 2, 0] = -np.sqrt(k13 * k31)
    # One small LAPACK call per subject: no subject's values depend on the others.
    w, u = np.linalg.eigh(s)
    lam = np.ascontiguousarray(w[:, ::-1])
    u = u[:, :, ::-1]
    lam[:, 2] = k10 * k21 * k31 / (lam[:, 0] * lam[:, 1])
    # sqrt(V_k / V1): V2/V1 = k12/k21, V3/V1 = k13/k31.
    root = np.stack([np.ones(n), np.sqrt(k12 / k21), np.sqrt(k13 / k31)], axis=1)
    modes = ((root[:, :, None] / root[:, None, :])[:, :, :, None]
             * u[:, :, None, :] * u[:, None, :, :])
    return lam, modes


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
    if sys.lam.shape[1] >= 2:
        mat[:, c, c + 1] = sys.k21
        mat[:, c + 1, c] = sys.k12
        mat[:, c + 1, c + 1] = -sys.k21
    if sys.lam.shape[1] == 3:
        mat[:, c, c] = -(sys.k10 + sys.k12 + sys.k13)
        mat[:, c, c + 2] = sys.k31
        mat[:, c + 2, c] = sys.k13
        mat[:, c + 2, c + 2] = -sys.k31
    return mat


# --- divided differences of the exponential -------------------------------------------

_SERIES_TERMS = 60
#: Elements (subjects x times) per chunk in train sums: large enough to amortise Python
#: overhead, small enough for the working arrays to stay in cache.
_CHUNK_ELEMENTS = 1 << 20


@functools.cache
def _series_coefs(kind: str, m: int) -> tuple[float, ...]:
    """Taylor coefficients of A_m (``kind`` "a", used for d < 2) or B_m ("b", d < max(2, m))
    in powers of -d, as many as bring the next term below 1e-18 of the first at the
    largest d used (a fixed count per function, so no value depends on its neighbours)."""
    d_max = 2.0 if kind == "a" else max(2.0, float(m))
    fact = math.factorial(m - 1)
    out = []
    for j in range(_SERIES_TERMS):
        c = (1.0 / (math.factorial(j) * (m + j) * fact) if kind == "a"
             else 1.0 / math.factorial(j + m))
        out.append(c)
        if j > d_max and c * d_max ** j < 1e-18 * out[0]:
            break
    return tuple(out)


def _series(coefs: tuple[float, ...], d: np.ndarray) -> np.ndarray:
    """Sum_j coefs_j (-d)^j by Horner's rule (d small)."""
    out = np.zeros_like(d)
    if d.size:
        for c in coefs[::-1]:
            out *= -d
            out += c
    return out


def _a_fn(m: int, d: np.ndarray) -> np.ndarray:
    """A_m(d) = int_0^1 t^(m-1) exp(-d t) dt / (m-1)!, d >= 0."""
    if m == 1:
        return _phi1(d)
    out = np.empty_like(d)
    small = d < 2.0
    out[small] = _series(_series_coefs("a", m), d[small])
    # Integer order: P(m, d) = 1 - exp(-d) sum_{j<m} d^j/j! exactly; for d >= m the
    # subtraction loses at most about a digit and costs a fraction of gammainc. In between
    # (2 <= d < m) a positive series (_a_mid).
    far = d >= max(2.0, float(m))
    df = d[far]
    poly = np.ones_like(df)
    for j in range(m - 1, 0, -1):
        poly = poly * df / j + 1.0
    out[far] = -np.expm1(np.log(poly) - df) / df ** m
    mid = ~small & ~far
    if mid.any():
        out[mid] = _a_mid(m, d[mid])
    return out


@functools.cache
def _a_mid_terms(m: int) -> int:
    """Terms of the series in :func:`_a_mid` that bring the next below 1e-18 of the sum
    for every d < m: term k is at most m^k m!/(m+k)! times the first."""
    k = 1
    while k * math.log(m) + math.lgamma(m + 1) - math.lgamma(m + k + 1) > math.log(1e-18):
        k += 1
    return k


def _a_mid(m: int, d: np.ndarray) -> np.ndarray:
    """A_m(d) for 2 <= d < m, i.e. P(m, d) / d^m with P the regularised lower incomplete
    gamma function, by its power series
    A_m(d) = exp(-d)/m! sum_k d^k / ((m+1)...(m+k)): all terms positive (no cancellation),
    ratio d/(m+k) < 1. Plain numpy: scipy.special costs a slow import for this alone."""
    acc = np.ones_like(d)
    for k in range(_a_mid_terms(m), 0, -1):  # Horner: 1 + d/(m+1) (1 + d/(m+2) (...))
        acc = 1.0 + acc * d / (m + k)
    return acc * np.exp(-d) / math.factorial(m)


def _b_fn(m: int, d: np.ndarray) -> np.ndarray:
    """B_m(d) = phi_m(-d) = int_0^1 t^(m-1) exp(-d (1-t)) dt / (m-1)!, d >= 0."""
    if m == 1:
        return _phi1(d)
    out = np.empty_like(d)
    small = d < max(2.0, float(m))
    out[small] = _series(_series_coefs("b", m), d[small])
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

    Vectorised over the stack (scipy's expm loops over it in Python). Each matrix is scaled
    for its own 1-norm, so its exponential does not depend on the others in the stack.
    """
    norm = np.max(np.sum(np.abs(mat), axis=-2), axis=-1, initial=0.0)
    with np.errstate(divide="ignore"):
        squarings = np.where(norm > _THETA13,
                             np.ceil(np.log2(np.maximum(norm, _THETA13) / _THETA13)),
                             0.0).astype(np.int64)
    a = mat / np.ldexp(1.0, squarings)[..., None, None]
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
    for k in range(int(squarings.max(initial=0))):
        more = squarings > k
        if more.all():  # the common case: no gathered copies (the same product per matrix)
            r = r @ r
        else:
            r[more] = r[more] @ r[more]
    return r


#: The stacked matrix exponential, public for the linear systems of other modules
#: (pkdose.metabolite).
matrix_exponential = _expm


def entry_state(sys: System, route: str) -> int:
    """State a dose of this route enters: the depot for absorbed routes, else central."""
    return 0 if route in DEPOT_ROUTES and sys.n_chain else sys.central


def expm(mat: np.ndarray) -> np.ndarray:
    """Matrix exponential of a stack (..., S, S), vectorised over the stack (Pade 13)."""
    return _expm(mat)


def _input_vector(sys: System, route: str) -> np.ndarray:
    b = np.zeros((sys.n, sys.n_states))
    b[:, entry_state(sys, route)] = 1.0
    return b


def infusion_end_state(sys: System, duration_h: float | np.ndarray,
                       state: int | None = None) -> np.ndarray:
    """State (n, S) at the end of a unit-rate input lasting ``duration_h`` (one for all, or
    (n,) per subject) into ``state`` (default central)."""
    a_mat = system_matrix(sys)
    s = sys.n_states
    dur = np.asarray(duration_h, float)
    aug = np.zeros((sys.n, s + 1, s + 1))
    aug[:, :s, :s] = a_mat * (dur[:, None, None] if dur.ndim else dur)
    aug[:, sys.central if state is None else state, s] = dur
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
    def take(x):
        return None if x is None else x[idx]

    return System(sys.n_chain, take(sys.k), sys.k10[idx], sys.k12[idx], sys.k21[idx],
                  sys.v1[idx], sys.lam[idx], sys.a[idx], take(sys.k13), take(sys.k31),
                  take(sys.modes))


#: Values per working array in :func:`basis_central`: a chunk of subjects whose
#: intermediate arrays stay in cache (the special functions take a dozen passes).
_BASIS_ELEMENTS = 1 << 15


def basis_central(sys: System, s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Central amount (n, S, len(s)) at times ``s`` (>= 0) after a unit amount in each
    state, written into ``out`` when given (e.g. rows of a larger array)."""
    s = np.asarray(s, float)
    step = max(1, _BASIS_ELEMENTS // max(s.size, 1))
    if out is None:
        out = np.empty((sys.n, sys.n_states, s.size))
    if sys.n <= step:
        return _basis_central(sys, s, out)
    for lo in range(0, sys.n, step):
        hi = min(sys.n, lo + step)
        _basis_central(subset(sys, slice(lo, hi)), s, out[lo:hi])
    return out


def _basis_central(sys: System, s: np.ndarray, out: np.ndarray) -> np.ndarray:
    """:func:`basis_central` for one chunk; ``s`` (T,) shared, or (n, T) per subject."""
    p = sys.lam.shape[1]
    lam = sys.lam[:, :, None]  # (n, p, 1)
    u = s[None, None, :] if s.ndim == 1 else s[:, None, :]
    e = np.exp(-lam * u)  # (n, p, T)
    c = sys.central
    np.einsum("npt,np->nt", e, sys.a, out=out[:, c, :])
    if p == 2:
        # k21 (exp(-lam2 s) - exp(-lam1 s)) / (lam1 - lam2): the difference loses nothing
        # once (lam1 - lam2) s >= 1; below that u exp(-lam2 u) phi_1(gap u), which never
        # divides by the gap.
        gap = (sys.lam[:, 0] - sys.lam[:, 1])[:, None]
        k21 = sys.k21[:, None]
        per = out[:, c + 1, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            np.subtract(e[:, 1], e[:, 0], out=per)
            per *= k21 / gap
        # Only the first columns can be that early (s sorted by every caller; else all).
        if s.ndim == 2:
            # Times per subject: the few early points one by one.
            gs = gap * s
            near = np.nonzero(gs < 1.0)
            if near[0].size:
                per[near] = k21[near[0], 0] * s[near] * e[:, 1][near] * _phi1(gs[near])
        else:
            j = int(np.searchsorted(s, 1.0 / float(gap.min()))) if np.all(np.diff(s) >= 0) \
                else s.size
            if j:
                gs = gap * s[:j]
                early = k21 * s[:j] * e[:, 1, :j] * _phi1(gs)
                np.copyto(per[:, :j], early, where=gs < 1.0)
    elif p == 3:
        # Peripheral j to central: bounded modal amplitudes (see _three_compartment_modes).
        for j in (1, 2):
            np.einsum("npt,np->nt", e, sys.modes[:, 0, j, :], out=out[:, c + j, :])
    if not sys.n_chain:
        return out
    # Absorption chains: every stage count at once by the upward recurrence
    # K_m = k/(k - lam) (K_{m-1} - (k u)^(m-1) e^(-k u)/(m-1)!), K_0 = e^(-lam u). For one
    # stage it is the difference of two exponentials, exact to 2 ulp once |k - lam| u >= 1;
    # for several it is stable where the mode is slower than the chain and |k - lam| u >=
    # max(2, stages) (the subtracted Erlang term is then a bounded fraction of K_{m-1}).
    # Elsewhere (early times, rates close together) the divided-difference kernel. At
    # u = 0 the recurrence gives the exact 0.
    k = sys.k[:, None, None]
    ku = k * u
    dist = np.abs(k - lam) * u
    if sys.n_chain == 1:
        far = (dist >= 1.0) | (u == 0)
    else:
        far = ((lam < k) & (dist >= max(2.0, float(sys.n_chain)))) | (u == 0)
    ratio = k / np.where(lam != k, k - lam, 1.0)
    kern = e.copy()
    erl = np.exp(-ku) * np.ones_like(kern)
    near = np.flatnonzero(~far)
    lam_n, k_n, u_n = (np.broadcast_to(x, far.shape).reshape(-1)[near] for x in (lam, k, u))
    flat = kern.reshape(-1)
    for m in range(1, sys.n_chain + 1):
        kern -= erl
        kern *= ratio
        if m < sys.n_chain:
            erl *= ku / m
        if near.size:
            flat[near] = chain_kernel(m, k_n, lam_n, u_n)
        np.einsum("npt,np->nt", kern, sys.a, out=out[:, sys.n_chain - m, :])
    return out


#: Magnitude below which decayed amounts (mg) and propagator entries are set to 0: high
#: powers of the propagator decay through subnormal numbers, on which arithmetic is ~100
#: times slower, and nothing below 1e-280 mg can show in a concentration.
_TINY = 1e-280


def _flush(x: np.ndarray) -> np.ndarray:
    """Set entries below :data:`_TINY` in magnitude to 0, in place. Most arrays have
    none: one pass and a minimum decide."""
    mag = np.abs(x)
    if mag.size and mag.min() < _TINY:
        np.copyto(x, 0.0, where=mag < _TINY)
    return x


#: Counts computed one multiplication each before a run of consecutive counts goes
#: ``_POWER_BLOCK`` at a time, ``E^(m+B) w = E^B (E^m w)``: a year of daily doses is 23
#: passes of Python instead of 365.
_POWER_BLOCK = 16
#: Values per working array of a block of powers (256 kB): a chunk of subjects.
_BLOCK_ELEMENTS = 1 << 15


def _powers_times(e_mat: np.ndarray, w: np.ndarray, m_values: np.ndarray,
                  by_m: bool = False, raw: bool = False) -> np.ndarray:
    """E^m w for each (sorted, integer) m: (n, S, len(m_values)), (n, len(m_values), S)
    with ``by_m``, or as computed, (len(m_values), S, n), with ``raw``.

    Vectorised over subjects with the subject index last: each step is a few contiguous
    elementwise passes (per-subject 3x3 products cost more in call overhead than in
    arithmetic), and elementwise, so a subject's values do not depend on how many others
    share the call (a contraction routine may reorder its sums by shape). Within a run of
    consecutive counts, once ``_POWER_BLOCK`` of them are known, the next block of them
    is one pass: ``E^B`` times the block before.
    """
    n, n_s = w.shape
    m_arr = np.asarray(m_values).astype(np.int64)
    out = np.empty((m_arr.size, n_s, n))
    # Index of the first count of the consecutive run each count is in, and of its end.
    brk = np.concatenate([[True], np.diff(m_arr) != 1])
    starts = np.flatnonzero(brk)
    run_start = starts[np.cumsum(brk) - 1]
    run_end = np.append(starts[1:], m_arr.size)[np.cumsum(brk) - 1]
    e_c = np.ascontiguousarray(e_mat.transpose(1, 2, 0))  # (S, S, n)
    e_block = None
    cur = np.ascontiguousarray(w.T)
    m_cur = 0
    i = 0
    while i < m_arr.size:
        if i - run_start[i] >= _POWER_BLOCK:
            if e_block is None:
                e_block = _flush(np.ascontiguousarray(
                    np.linalg.matrix_power(e_mat, _POWER_BLOCK).transpose(1, 2, 0)))
            k = int(min(_POWER_BLOCK, run_end[i] - i))
            # Subjects in chunks whose (k, S, chunk) products stay in cache (contiguous
            # working arrays: products written straight into the strided result were
            # slower).
            step = max(1, _BLOCK_ELEMENTS // (k * n_s))
            for lo in range(0, n, step):
                e_b = e_block[:, :, lo:lo + step]
                src = out[i - _POWER_BLOCK:i - _POWER_BLOCK + k, :, lo:lo + step]
                blk = e_b[None, :, 0] * src[:, None, 0]
                for j in range(1, n_s):
                    blk += e_b[None, :, j] * src[:, None, j]
                out[i:i + k, :, lo:lo + step] = _flush(blk)
            i += k
            cur, m_cur = out[i - 1], m_arr[i - 1]
            continue
        gap = int(m_arr[i] - m_cur)
        if gap:
            step = e_c if gap == 1 else np.ascontiguousarray(
                np.linalg.matrix_power(e_mat, gap).transpose(1, 2, 0))
            new = step[:, 0] * cur[0]
            for j in range(1, n_s):
                new += step[:, j] * cur[j]
            cur = _flush(new)
        out[i] = cur
        m_cur = m_arr[i]
        i += 1
    if raw:
        return out
    return np.ascontiguousarray(out.transpose(2, 0, 1) if by_m else out.transpose(2, 1, 0))


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


# --- output plans: central amounts as (coefficient x basis) blocks -------------------------


#: Output elements (subjects x times) written per pass of :meth:`Plan.fill_into`: about
#: 1 MB of float64, so a chunk of output stays in a core's L2 cache while every train
#: (and the caller's conversion to concentrations) passes over it.
CACHE_ELEMENTS = 1 << 17


@dataclass(frozen=True)
class Block:
    """Output columns ``start .. start + M P``: column ``start + m P + j`` holds
    ``sum_k coef[:, m, k] * basis[:, k, j]`` (one small matrix product per subject).

    On a regular output grid the central amount after the m-th dose of a train, ``s``
    after it, is ``sum_k c_k(m) b_k(s)``: the grid visits the same ``s`` values in every
    dosing interval, so an M-interval stretch of output is the product of an (M, J) and a
    (J, P) matrix, written straight into the output. With ``subjects_last`` the
    coefficients are stored (M, J, n), as the dose-count powers compute them: each
    cache-sized chunk of subjects is transposed when it is written, so no (n, M, J) copy
    of the whole block is made.
    """

    start: int
    coef: np.ndarray  # (n, M, J), or (M, J, n) with subjects_last
    basis: np.ndarray  # (n, J, P)
    subjects_last: bool = False

    def coef_rows(self, lo: int, hi: int, factor: np.ndarray | None,
                  scratch: np.ndarray) -> np.ndarray:
        """Coefficients (hi - lo, M, J) of subjects ``lo:hi``, C-ordered (a matrix
        product per subject), times ``factor`` (hi - lo, 1, 1) when given, written into
        ``scratch`` (1-D, at least that many values) when they must be copied."""
        coef = (self.coef[:, :, lo:hi].transpose(2, 0, 1) if self.subjects_last
                else self.coef[lo:hi])
        if factor is None and coef.flags.c_contiguous:
            return coef
        rows = scratch[:coef.size].reshape(coef.shape)
        if factor is None:
            rows[...] = coef
            return rows
        return np.multiply(coef, factor, out=rows)

    def chunk_values(self, rows: int) -> int:
        """Values of :meth:`coef_rows` for ``rows`` subjects."""
        n_keys, n_states = (self.coef.shape[:2] if self.subjects_last
                            else self.coef.shape[1:])
        return rows * n_keys * n_states


@dataclass(frozen=True)
class Dense:
    """Output columns ``cols`` given value by value: ``vals`` (n, len(cols))."""

    cols: slice | np.ndarray
    vals: np.ndarray


@dataclass(frozen=True)
class Plan:
    """Central amounts (n, T) of one train or regimen, as parts that write themselves.

    Columns no part covers are zero (times before the first dose). Parts built from
    per-subject arithmetic only, so a subject's values do not depend on which other
    subjects share the plan. ``factor`` (n,), when given, multiplies every subject's
    values (e.g. 1/V1: concentrations); it is applied to the coefficients of each
    cache-sized chunk of subjects as it is written, not to the output.
    """

    n: int
    n_times: int
    parts: tuple[Block | Dense, ...]
    zero: tuple[slice, ...]  # uncovered columns
    factor: np.ndarray | None = None

    def fill(self, lo: int, hi: int, out: np.ndarray, add: bool = False,
             scratch: np.ndarray | None = None) -> None:
        """Write (``add``: add) the central amounts of subjects ``lo:hi`` into ``out``
        (hi - lo, T), which may be a row slice of a larger C-ordered array; ``scratch``
        (1-D, :meth:`scratch_values` long) holds the coefficients being written, so that
        chunk after chunk reuses one buffer."""
        b = hi - lo
        f3 = None if self.factor is None else self.factor[lo:hi, None, None]
        if scratch is None:
            scratch = np.empty(self.scratch_values(b))
        if not add:
            for sl in self.zero:
                out[:, sl] = 0.0
        for part in self.parts:
            if isinstance(part, Block):
                coef, basis = part.coef_rows(lo, hi, f3, scratch), part.basis[lo:hi]
                m, p = coef.shape[1], basis.shape[2]
                if m == 1:
                    # One interval: a product per subject would be one BLAS call per
                    # subject (microseconds each) for a few dozen values; J multiply-adds
                    # instead.
                    acc = coef[:, 0, 0, None] * basis[:, 0]
                    for j in range(1, coef.shape[2]):
                        acc += coef[:, 0, j, None] * basis[:, j]
                    view = out[:, part.start:part.start + p]
                    if add:
                        view += acc
                    else:
                        view[...] = acc
                    continue
                # Splitting the last axis of a row slice is always a view: the product
                # is written in place, no (n, T) temporary.
                view = out[:, part.start:part.start + m * p].reshape(b, m, p)
                if add:
                    view += np.matmul(coef, basis)
                else:
                    np.matmul(coef, basis, out=view)
                continue
            vals = part.vals[lo:hi] if f3 is None else part.vals[lo:hi] * f3[:, :, 0]
            if add:
                out[:, part.cols] += vals
            else:
                out[:, part.cols] = vals

    def scratch_values(self, rows: int) -> int:
        """Length of the scratch buffer that :meth:`fill` needs for ``rows`` subjects."""
        return max((p.chunk_values(rows) for p in self.parts if isinstance(p, Block)),
                   default=0)

    def scaled(self, factor: np.ndarray) -> Plan:
        """The plan times ``factor`` (n,) per subject (e.g. 1/V1: concentrations), applied
        to the small coefficient arrays chunk by chunk rather than to the output."""
        f = np.asarray(factor, float)
        return Plan(self.n, self.n_times, self.parts, self.zero,
                    f if self.factor is None else self.factor * f)

    def values(self) -> np.ndarray:
        """All central amounts (n, T), written chunk by chunk."""
        out = np.empty((self.n, self.n_times))
        fill_chunked([self], out)
        return out


def plans_nbytes(plans: list[Plan]) -> int:
    """Bytes of the arrays the plans hold (each underlying array counted once)."""
    held: dict[int, int] = {}
    for plan in plans:
        for part in plan.parts:
            for arr in (part.coef, part.basis) if isinstance(part, Block) else (part.vals,):
                while isinstance(arr.base, np.ndarray):
                    arr = arr.base
                held[id(arr)] = arr.nbytes
    return sum(held.values())


def dense_plan(vals: np.ndarray) -> Plan:
    """A plan that holds its values (n, T)."""
    return Plan(vals.shape[0], vals.shape[1], (Dense(slice(None), vals),), ())


def chunk_rows(n_times: int) -> int:
    """Subjects per cache-sized output chunk."""
    return max(1, CACHE_ELEMENTS // max(n_times, 1))


def filled_chunks(plans: list[Plan], out: np.ndarray, n: int | None = None):
    """Sum of the plans' central amounts, one cache-sized chunk of subjects at a time:
    yields ``(lo, hi, chunk)`` once ``chunk`` holds subjects ``lo:hi``, for the caller to
    use while it is still in cache.

    ``out`` is (n, T), ``chunk`` its rows ``lo:hi``; or, with ``n`` given, a scratch array
    of at least :func:`chunk_rows` rows that every chunk reuses (the caller summarises
    each chunk and never holds every curve).
    """
    scratch = n is not None
    n = out.shape[0] if n is None else n
    step = chunk_rows(out.shape[1])
    # One coefficient buffer for every chunk: a fresh one per chunk (~100 kB) would be
    # memory-mapped and unmapped each time in a new process.
    coef_buf = np.empty(max((p.scratch_values(min(step, n)) for p in plans), default=0))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        chunk = out[:hi - lo] if scratch else out[lo:hi]
        if not plans:
            chunk[:] = 0.0
        for i, plan in enumerate(plans):
            plan.fill(lo, hi, chunk, add=i > 0, scratch=coef_buf)
        yield lo, hi, chunk


def fill_chunked(plans: list[Plan], out: np.ndarray, finish=None) -> None:
    """Sum of the plans' central amounts into ``out`` (n, T), one cache-sized chunk of
    subjects at a time; ``finish(lo, hi, chunk)`` then runs on each chunk while it is
    still in cache (the conversion to concentrations)."""
    for lo, hi, chunk in filled_chunks(plans, out):
        if finish is not None:
            finish(lo, hi, chunk)


def regular_runs(key: np.ndarray, s: np.ndarray) -> list[tuple[int, int, int]] | None:
    """Stretches of a sorted output grid that repeat the same times since dose.

    ``key`` (non-decreasing integers: dose count or interval) and ``s`` (time since that
    dose) per column. Returns ``(start, M, P)``: columns ``start + m P + j`` have key
    ``key[start] + m`` and ``s = s[start + j]``, bitwise. Every column is in exactly one
    stretch (a partial interval is a stretch with M = 1). None if ``key`` decreases.
    """
    if key.size == 0:
        return []
    d = np.diff(key)
    if np.any(d < 0):
        return None
    starts = np.concatenate([[0], np.flatnonzero(d) + 1, [key.size]])
    runs: list[tuple[int, int, int]] = []
    i = 0
    n_runs = starts.size - 1
    while i < n_runs:
        a, b = int(starts[i]), int(starts[i + 1])
        p, m = b - a, 1
        row = s[a:b]
        while i + m < n_runs:
            c, e = int(starts[i + m]), int(starts[i + m + 1])
            if e - c != p or key[c] != key[a] + m or not np.array_equal(s[c:e], row):
                break
            m += 1
        runs.append((a, m, p))
        i += m
    return runs


#: Output steps per virtual interval when a single dose is planned as blocks.
_SINGLE_DOSE_STEPS = 48


def _regular_train_plan(sys: System, train: DoseTrain, inj: np.ndarray, t0: float,
                        times: np.ndarray) -> Plan | None:
    """Plan of a bolus train on a sorted grid, or None where the grid is not sorted or
    does not repeat (runs of fewer than 4 times on average: value by value is cheaper).

    ``x(t) = exp(A s) (w - E^m w)``: the coefficients ``w - E^m w`` per dose count and the
    unit-state responses ``exp(A s)`` per distinct ``s`` are each computed once, and every
    stretch of the grid that repeats the same ``s`` values is one :class:`Block`. After
    the last of ``N`` doses the grid is cut into further intervals of the dosing interval
    with no dose: ``s = s' + q ii`` gives ``exp(A s') E^q (w - E^N w)``, so the washout
    reuses the responses of the dosing intervals and only adds coefficients. A single
    dose is cut the same way, at a virtual interval of 48 output steps, with coefficients
    ``E^q b`` straight from the injected state.
    """
    single = train.n == 1 or train.ii_h == 0
    if single:
        step = float(times[1] - times[0]) if times.size >= 2 * _SINGLE_DOSE_STEPS else 0.0
        if not step > 0:  # few times, or not increasing: value by value
            return None
        train = DoseTrain(train.t0_h, _SINGLE_DOSE_STEPS * step, 1, 0.0)
    ii = train.ii_h
    rel = times - t0
    count = np.clip(np.floor(rel / ii) + 1.0, 0.0, train.n)
    ok = count >= 1
    if not np.any(ok):
        return Plan(sys.n, times.size, (), (slice(None),))
    first = int(np.argmax(ok))
    if not np.all(ok[first:]):
        return None
    s_end = rel[first:] - (count[first:] - 1.0) * ii
    key = count[first:].astype(np.int64)
    if math.isfinite(train.n):
        after = np.flatnonzero(key >= train.n)
        q = np.floor(s_end[after] / ii)
        s_rest = s_end[after] - q * ii
        back = s_rest < 0  # s / ii rounded up to a whole number
        q[back] -= 1.0
        s_rest[back] += ii
        s_end[after] = s_rest
        key[after] += q.astype(np.int64)
    runs = regular_runs(key, s_end)
    if runs is None or (len(runs) > 16 and 4 * len(runs) > key.size):
        return None
    e_mat = _expm(system_matrix(sys) * ii)
    m_u = np.unique(key)
    if single:
        pw = _powers_times(e_mat, inj, m_u - 1, raw=True)  # E^(k-1) b, (keys, J, n)
        return _blocks_plan(sys, times.size, first, runs, key, s_end, m_u, pw)
    w = np.linalg.solve(np.eye(sys.n_states)[None] - e_mat, inj[:, :, None])[:, :, 0]
    n_doses = int(min(train.n, m_u[-1]))
    # coef(k) = E^max(0, k - N) w - E^k w: (M, J, n) over the distinct keys, consecutive
    # on a grid.
    wash = np.maximum(m_u - n_doses, 0)
    powers_of = np.unique(np.concatenate([m_u, wash]))
    pw = _powers_times(e_mat, w, powers_of, raw=True)  # (keys, J, n)
    if np.array_equal(powers_of, np.arange(m_u[-1] + 1)) and np.array_equal(
            m_u, np.arange(m_u[0], m_u[-1] + 1)):
        # Every grid: consecutive keys, so the rows are slices (no gathered copies),
        # written over the powers they replace (no second array of their size): the
        # washout first, as its sources are low powers that the dosing rows overwrite
        # (numpy buffers a subtraction whose output overlaps its input).
        coef = pw[m_u[0]:]
        dosing = int(np.count_nonzero(m_u <= n_doses))
        if dosing < m_u.size:
            a = int(m_u[dosing]) - n_doses
            np.subtract(pw[a:a + m_u.size - dosing], coef[dosing:], out=coef[dosing:])
        np.subtract(pw[0], coef[:dosing], out=coef[:dosing])
    else:
        coef = np.take(pw, np.searchsorted(powers_of, wash), axis=0)
        coef -= np.take(pw, np.searchsorted(powers_of, m_u), axis=0)
    return _blocks_plan(sys, times.size, first, runs, key, s_end, m_u, coef)


def _blocks_plan(sys: System, n_times: int, first: int, runs, key: np.ndarray,
                 s_end: np.ndarray, m_u: np.ndarray, coef: np.ndarray) -> Plan:
    """Blocks of (coefficients per key, (keys, J, n)) x (unit-state responses per
    distinct time)."""
    cnt = key
    rows = [s_end[a:a + p] for a, _, p in runs]
    s_u, inv = np.unique(np.concatenate(rows), return_inverse=True)
    basis = basis_central(sys, s_u)
    parts, pos = [], 0
    for a, m, p in runs:
        k = int(np.searchsorted(m_u, cnt[a]))
        sel = inv[pos:pos + p]
        pos += p
        # A run of consecutive distinct times (every aligned grid) is a view.
        b = basis[:, :, sel[0]:sel[0] + p] if np.array_equal(
            sel, np.arange(sel[0], sel[0] + p)) else np.take(basis, sel, axis=2)
        parts.append(Block(first + a, coef[k:k + m], b, subjects_last=True))
    zero = (slice(0, first),) if first else ()
    return Plan(sys.n, n_times, tuple(parts), zero)


def train_plan(sys: System, train: DoseTrain, amount: np.ndarray, bio: np.ndarray,
               tlag: np.ndarray, times: np.ndarray, steady_state: bool = False) -> Plan:
    """Central amounts of one dose train as a :class:`Plan` (see :func:`train_central`).

    A bolus train (oral, iv, sc, ...) on a sorted grid, with one lag for all subjects, is
    planned as :class:`Block` s; everything else (infusions and diets, steady state, a
    single dose, several lags, unsorted times) is evaluated value by value.
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
        inj = infusion_end_state(sys, train.infusion_h, entry_state(sys, "diet")) * rate[:, None]
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
    lag_u = np.unique(lags)
    if rate is None and not steady_state and lag_u.size == 1:
        plan = _regular_train_plan(sys, train, inj, train.t0_h + float(lag_u[0]), times)
        if plan is not None:
            return plan
    out = np.empty((sys.n, times.size))
    # Subjects sharing a lag share dose times; chunks keep the gathered arrays in cache.
    chunk = max(1, _CHUNK_ELEMENTS // max(times.size, 1))
    for lag in lag_u:
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
    return dense_plan(out)


def parallel_plans(sys: System, train: DoseTrain, amount: np.ndarray, bio: np.ndarray,
                   fr_zo: np.ndarray, tk0: np.ndarray, tlag: np.ndarray, times: np.ndarray,
                   steady_state: bool = False) -> list[Plan]:
    """Central amounts of an oral train absorbed by two parallel arms (Mo 2025 everolimus).

    A fraction ``fr_zo`` of each bioavailable dose enters the central compartment at a
    constant rate over ``tk0`` hours from the dose; the rest enters the depot ``tlag``
    hours after the dose and is absorbed at ``ka`` (``sys`` has one absorption stage).
    Both arms are linear, so each is an exact train: the first-order arm a bolus train
    into the depot that reaches each subject ``tlag`` late, the zero-order arm the state
    at the end of each input (matrix exponential of the augmented system) as a train that
    arrives ``tk0`` late, plus the inputs running now (closed form). An input may last
    longer than the dosing interval: the model is linear, so the inputs of the last
    ``ceil(tk0 / ii)`` doses that run at once superpose (those before this period's summed
    in closed form, so the cost does not depend on how many run). The periodic steady
    state is that of both trains. Every subject has its own ``tk0`` and ``tlag``: the
    trains are evaluated value by value with per-subject dose counts and times since dose
    (:func:`shifted_train_values`), vectorised over subjects and times.

    Parameters
    ----------
    amount, bio, fr_zo, tk0, tlag : (n,) dose (mg), bioavailable fraction, fraction of it
        absorbed by the zero-order arm, zero-order duration (h), lag of the first-order
        arm (h).

    Returns
    -------
    list of Plan
        The first-order arm, then the zero-order arm; their sum is the central amount.
    """
    n = sys.n
    times = np.asarray(times, float)
    fr_zo, tk0, tlag = (np.broadcast_to(np.asarray(x, float), (n,)) for x in (fr_zo, tk0, tlag))
    periodic = not (train.n == 1 or train.ii_h == 0)
    dose = np.asarray(amount, float) * bio
    rate = dose * fr_zo / tk0
    first = shifted_train_values(sys, train, _input_vector(sys, "oral") * (dose * (1.0 - fr_zo))
                                 [:, None], tlag, times, steady_state)
    zero = shifted_train_values(sys, train, infusion_end_state(sys, tk0) * rate[:, None], tk0,
                                times, steady_state, within_period=True)
    # The inputs running now: the position in the current period decides which run, and
    # the train above counts the others as ended from exactly the same numbers.
    rel = times[None, :] - train.t0_h
    ii = train.ii_h
    if periodic:
        k = np.broadcast_to(np.floor(rel / ii), (n, times.size))
        s_run = np.broadcast_to(rel - k[:1] * ii, (n, times.size))
        n_run = _inputs_running(s_run, ii, tk0)
        # This period's input, if it runs and its dose belongs to the train.
        now = n_run >= 1
        if not steady_state:
            now &= (k >= 0) & (k < train.n)
    else:
        s_run = np.broadcast_to(rel, (n, times.size))
        now = (s_run >= 0) & (s_run < tk0[:, None])
    rows, cols = np.nonzero(now)
    if rows.size:
        # sum_i a_i s phi_1(lam_i s) (step_central) at the running points only: for most
        # regimens an input runs for a small part of each period.
        sv = s_run[rows, cols][:, None]
        zero[rows, cols] += rate[rows] * np.sum(sys.a[rows] * sv * _phi1(sys.lam[rows] * sv),
                                                axis=1)
    if periodic and float(np.max(tk0, initial=0.0)) > ii:
        # Inputs of earlier doses still running: those b = b0..b1 periods back, limited to
        # the doses of the train, summed in closed form in one pass however many run (a
        # tk0 far in the tails of its IIV can span thousands of periods).
        rows, cols = np.nonzero(n_run >= 2.0)
        b1 = n_run[rows, cols] - 1.0
        b0 = np.ones_like(b1)
        if not steady_state:
            b1 = np.minimum(b1, k[rows, cols])
            b0 = np.maximum(b0, k[rows, cols] - train.n + 1.0)
        some = b1 >= b0
        rows, cols, b0, b1 = rows[some], cols[some], b0[some], b1[some]
        if rows.size:
            zero[rows, cols] += rate[rows] * _older_inputs_central(
                sys.a[rows], sys.lam[rows], s_run[rows, cols], ii, b0, b1)
    return [dense_plan(first), dense_plan(zero)]


def _inputs_running(s_run: np.ndarray, ii: float, duration: np.ndarray) -> np.ndarray:
    """Number of the latest doses (one every ``ii`` hours) whose input of ``duration`` (n,)
    hours still runs, at each point of ``s_run`` (n, T), the time since this period's dose.

    The least ``D >= 0`` with ``s_run + D ii >= duration``, as a float array. Where
    earlier inputs run, the quotient estimates it to within one and that comparison
    settles it, so that the running inputs (``parallel_plans``) and the ended train
    (:func:`shifted_train_values`) are decided by the very same numbers and every input is
    counted once, also at an output time that falls exactly on its end. One pass over the
    points where an input runs, however many run there.
    """
    running = s_run < duration[:, None]
    d = running.astype(float)
    if float(np.max(duration, initial=0.0)) > ii:
        # Earlier inputs can run only where this period's does: those points alone.
        rows, cols = np.nonzero(running)
        sr, dur = s_run[rows, cols], duration[rows]
        dd = np.ceil((dur - sr) / ii)
        dd += sr + dd * ii < dur
        dd -= (dd > 1.0) & (sr + (dd - 1.0) * ii >= dur)
        d[rows, cols] = dd
    return d


def _older_inputs_central(a: np.ndarray, lam: np.ndarray, s: np.ndarray, ii: float,
                          b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Central amount (m,) of unit-rate inputs into central that started ``s + b ii`` ago
    for ``b = b0 .. b1`` (all running): ``sum_i a_i sum_b (1 - exp(-lam_i (s + b ii))) /
    lam_i``, the geometric sum over ``b`` in closed form (``a``, ``lam`` (m, p))."""
    cnt = (b1 - b0 + 1.0)[:, None]
    x = lam * ii
    # sum_b exp(-lam (s + b ii)) = exp(-lam (s + b0 ii)) (1 - q^cnt) / (1 - q), q = e^-x
    geom = np.exp(-lam * (s + b0 * ii)[:, None]) * np.expm1(-x * cnt) / np.expm1(-x)
    return np.sum(a * (cnt - geom) / lam, axis=1)


def shifted_train_values(sys: System, train: DoseTrain, inj: np.ndarray, shift: np.ndarray,
                         times: np.ndarray, steady_state: bool = False,
                         within_period: bool = False) -> np.ndarray:
    """Central amounts (n, T) of a train whose injected state ``inj`` (n, S) reaches each
    subject ``shift`` (n,) hours after the dose time (a lag, or the end of a zero-order
    input).

    ``x(t) = exp(A s) (w - E^m w)`` as in :func:`train_plan`, with the dose count ``m`` and
    the time since the last dose ``s`` per subject and time: the coefficients for every
    count from 0 to the largest (consecutive, so a subject's values do not depend on the
    counts of others), gathered per value, times the unit-state responses at each
    subject's own times. Elementwise per subject, in chunks of subjects that stay in
    cache. With ``within_period`` (``shift`` the end of an input, which may last longer
    than the dosing interval) a dose counts as arrived once its input no longer runs, by
    the very numbers that decide which inputs still run (:func:`_inputs_running`), so an
    input ending exactly on an output time is counted once.
    """
    n, n_s = sys.n, sys.n_states
    times = np.asarray(times, float)
    shift = np.broadcast_to(np.asarray(shift, float), (n,))
    out = np.empty((n, times.size))
    periodic = not (train.n == 1 or train.ii_h == 0)
    ii = train.ii_h
    if periodic:
        e_mat = _expm(system_matrix(sys) * ii)
        w = np.linalg.solve(np.eye(n_s)[None] - e_mat, inj[:, :, None])[:, :, 0]
    # Largest dose count in the output: the coefficients of every count up to it are held.
    top = int(np.clip(np.floor((float(times.max(initial=0.0)) - train.t0_h
                                - float(shift.min(initial=0.0))) / ii) + 2.0, 0, train.n)
              ) if periodic and not steady_state else 0  # one spare: rounding at the edges
    step = max(1, _CHUNK_ELEMENTS // max(times.size * (n_s + 2) + n_s * (top + 1), 1))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        sub = sys if hi - lo == n else subset(sys, slice(lo, hi))
        rel = times[None, :] - train.t0_h
        if not periodic:
            s = rel - shift[lo:hi, None]
            active = s >= 0
            coef = np.broadcast_to(inj[lo:hi, :, None], (hi - lo, n_s, times.size))
        else:
            if within_period:
                # Position in the period and how many of the latest doses still run, from
                # the same numbers as the running inputs of parallel_plans: the last
                # arrived dose is the one ``n_run`` periods back.
                k = np.floor(rel / ii)
                s_run = np.broadcast_to(rel - k * ii, (hi - lo, times.size))
                n_run = _inputs_running(s_run, ii, shift[lo:hi])
                k = k - n_run
                s = s_run + n_run * ii - shift[lo:hi, None]
            else:
                late = rel - shift[lo:hi, None]
                k = np.floor(late / ii)
                s = late - k * ii
            if steady_state:
                active = np.ones(s.shape, bool)
                coef = np.broadcast_to(w[lo:hi, :, None], (hi - lo, n_s, times.size))
            else:
                count = k + 1.0  # doses arrived so far (k: the period of the last)
                active = count >= 1
                over = count > train.n  # after the last dose: m = N, s grows
                s = np.where(over, s + (count - train.n) * ii, s)
                count = np.clip(count, 0.0, min(train.n, top)).astype(np.int64)
                pw = _powers_times(e_mat[lo:hi], w[lo:hi], np.arange(top + 1))  # (n, S, M)
                coef = w[lo:hi, :, None] - np.take_along_axis(
                    pw, np.broadcast_to(count[:, None, :], (hi - lo, n_s, times.size)), axis=2)
        basis = _basis_central(sub, np.where(active, s, 0.0),
                               np.empty((hi - lo, n_s, times.size)))
        acc = coef[:, 0] * basis[:, 0]
        for j in range(1, n_s):
            acc += coef[:, j] * basis[:, j]
        out[lo:hi] = np.where(active, acc, 0.0)
    return out


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
    plan = train_plan(sys, train, amount, bio, tlag, times, steady_state)
    dense = plan.parts[0] if len(plan.parts) == 1 else None
    if isinstance(dense, Dense) and dense.cols == slice(None):
        return dense.vals
    return plan.values()


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
    return np.where(a0 > 0, km * wright_omega(z), 0.0)


def wright_omega(z: np.ndarray) -> np.ndarray:
    """W(exp(z)), the principal Lambert W of exp(z), for real z (Wright's omega).

    Winitzki's start, W(x) ~ L (1 - ln(1 + L)/(2 + L)) with L = ln(1 + x), is within 2 %;
    four Halley steps on w + ln w = z take it to machine precision (at most 7e-15
    relative to scipy.special.lambertw over z in [-745, 700]; the test checks it). Below
    z = -36, W(x) = x - x^2 + ... is x to double precision; above 500, where exp(z)
    overflows, the start is z - ln z. Plain numpy: scipy.special costs a fifth of a second
    to import on every command.
    """
    z = np.asarray(z, float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        lg = np.log1p(np.exp(np.minimum(z, 500.0)))
        w = np.where(z > 500.0, z - np.log(np.maximum(z, 1.0)),
                     lg * (1.0 - np.log1p(lg) / (2.0 + lg)))
        for _ in range(4):
            step = w * (w + np.log(w) - z) / (1.0 + w)
            w = w - step / (1.0 + step / (2.0 * (1.0 + w) ** 2))
        return np.where(z < -36.0, np.exp(z), w)


def _time_to_amount(a0, a1, vm, km):
    """Time for the gut to fall from a0 to a1 (a1 <= a0)."""
    return (km * np.log(a0 / a1) + (a0 - a1)) / vm


def _n_disposition(sys: System) -> int:
    """Disposition states the Michaelis-Menten path carries: central and the peripherals
    (a one-compartment model carries an empty peripheral)."""
    return max(2, sys.lam.shape[1])


def _projectors(sys: System) -> list[np.ndarray]:
    """Components of the disposition modes in every disposition state, for unit central
    input.

    Returns a list (central first, then the peripherals) of (n, p) arrays: state k at time
    t is sum_i proj[k][:, i] f_i(t), where f_i is the input convolved with exp(-lam_i t).
    """
    p = sys.lam.shape[1]
    if p == 1:
        return [sys.a, np.zeros_like(sys.a)]
    if p == 3:
        return [sys.modes[:, k, 0, :] for k in range(3)]
    gap = sys.lam[:, 0] - sys.lam[:, 1]
    pp = np.stack([-sys.k12 / gap, sys.k12 / gap], axis=1)
    return [sys.a, pp]


def _disp_free(sys: System, x0: list[np.ndarray], u: np.ndarray) -> list[np.ndarray]:
    """Amounts (n, T) in every disposition state after free evolution from ``x0`` (a list
    of (n,) amounts, central first)."""
    lam = sys.lam
    if lam.shape[1] == 1:
        e = np.exp(-lam[:, 0, None] * u)
        return [x0[0][:, None] * e, np.zeros_like(e)]
    if lam.shape[1] == 3:
        e = np.exp(-lam[:, :, None] * u[:, None, :])  # (n, p, T)
        return [sum(x0[j][:, None] * np.einsum("npt,np->nt", e, sys.modes[:, k, j, :])
                    for j in range(3)) for k in range(3)]
    c0, p0 = x0
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
    return [c, p]


def gut_profile(a0: np.ndarray, s: np.ndarray, vm: np.ndarray, km: np.ndarray) -> np.ndarray:
    """Gut amount ``s`` after holding ``a0``, as :func:`mm_plan` models it: exact
    Michaelis-Menten down to the linear threshold, first order (ka = Vm/Km) below it."""
    thr = MM_LINEAR_FRACTION * km
    t_sw = np.where(a0 > thr, _time_to_amount(np.maximum(a0, thr), thr, vm, km), 0.0)
    s_nl = np.minimum(s, t_sw)
    g = gut_amount(a0, s_nl, vm, km)
    return g * np.exp(-(vm / km) * (s - s_nl))


def _unit_free(sys: System, u: np.ndarray) -> list[list[np.ndarray]]:
    """Free evolution of the disposition from unit amounts: ``out[k][j]`` (n, T) is state
    k after a unit amount in state j (central first)."""
    n, nd = sys.n, _n_disposition(sys)
    uu = np.broadcast_to(np.asarray(u, float)[None, :], (n, np.size(u)))
    cols = [_disp_free(sys, [np.ones(n) if i == j else np.zeros(n) for i in range(nd)], uu)
            for j in range(nd)]
    return [[cols[j][k] for j in range(nd)] for k in range(nd)]


def _affine_step(f: list[list[np.ndarray]], x: list[np.ndarray], z: list[np.ndarray]
                 ) -> list[np.ndarray]:
    """``f x + z`` for disposition states held as lists of (n,) arrays."""
    out = []
    for k, row in enumerate(f):
        acc = row[0] * x[0]
        for j in range(1, len(x)):
            acc = acc + row[j] * x[j]
        out.append(acc + z[k])
    return out


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


def _graded_nodes(h: float, base: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes (offsets back from the end of a step of length ``h``) and
    weights: ``base`` equal panels, the last of them (next to the step end) split
    geometrically ``level`` times, [0, p 2^-level], ..., [p/2, p].

    A mode of rate ``lam`` needs ``lam`` x panel <= 6 only where ``exp(-lam tau)`` is not
    yet negligible: on a panel [a, 2a] the 12-point rule's error is below
    ``(lam a / 2)^24 2e-37 exp(-lam a)``, under 1e-21 for every ``lam a``. So the node count
    grows with log2 of the fastest rate, not with the rate (a posterior draw with a
    tiny V1 asked for gigabytes of uniform panels).
    """
    p = h / base
    edges = np.concatenate([[0.0], p * 2.0 ** -np.arange(level, -1, -1),
                            p * np.arange(2, base + 1)])
    lo, hi = edges[:-1], edges[1:]
    half = 0.5 * (hi - lo)
    tau = ((lo + hi)[:, None] * 0.5 + half[:, None] * _GL_X[None, :]).ravel()
    return tau, (half[:, None] * _GL_W[None, :]).ravel()


_RATES: dict[bytes, np.ndarray] = {}


def _absorption_rate(a0: float, vm: float, km: float, v: np.ndarray, wts: np.ndarray
                     ) -> np.ndarray:
    """Quadrature weights times the absorption rate Vm A/(Km + A) of a gut that held
    ``a0`` at time 0, at the times ``v`` (nodes, steps).

    Remembered for a few inputs: every block of a population with a shared gut repeats the
    same nodes (the Lambert W is most of the cost of a small block's quadrature).
    """
    key = b"|".join([np.array([a0, vm, km]).tobytes(), v.tobytes(), wts.tobytes()])
    if key not in _RATES:
        g = _gut_amount(np.full(v.shape, a0), v, np.full(v.shape, vm), np.full(v.shape, km))
        rate = (vm * g / (km + g)) * wts[:, None]
        if len(_RATES) >= 64:
            _RATES.clear()
        rate.setflags(write=False)
        _RATES[key] = rate
    return _RATES[key]


def _mm_modal(sys: System, a0: float, vm: float, km: float, s: np.ndarray,
              decays: dict | None = None) -> np.ndarray:
    """Modal amplitudes (S, p, n) of the disposition driven by the gut emptying from ``a0``
    (empty disposition at 0), at the sorted distinct times ``s`` >= 0.

    ``I_i(s) = int_0^s exp(-lam_i (s - v)) r(v) dv`` with the absorption rate ``r`` of the
    gut, which all subjects here share. From one output time to the next,
    ``I(s_j) = exp(-lam h) I(s_{j-1}) + int over the step``: the decay is exact and the
    step integral is Gauss-Legendre in time. ``r`` is analytic in a strip of half-width
    pi Km/Vm about the real axis (the Lambert W branch point), so panels no longer than
    that integrate it to rounding, and ``exp(-lam (s_j - v))`` is integrated to rounding
    while ``lam`` x panel <= 6 (finer panels for a subject with a faster mode, decided by
    its own rate). The node offsets from the step end are the same in every step of a
    length, so ``exp(-lam tau)`` is evaluated once per subject and step length, and the
    step integrals are one small matrix product per subject. Below ``1e-6 Km`` the gut is
    first order (``ka = Vm/Km``) and the steps are exact:
    ``I += g ka int_0^h exp(-lam (h - v) - ka v) dv``. ``decays``: the nodes and their
    decay factors by step length and level, shared by the calls for one system.
    """
    n, p = sys.n, sys.lam.shape[1]
    lam = sys.lam
    decays = {} if decays is None else decays
    # Subject index last: every step of the recursion is a contiguous pass.
    out = np.zeros((s.size, p, n))
    thr = MM_LINEAR_FRACTION * km
    if a0 <= 0 or s.size == 0:
        return out
    t_sw = float(_time_to_amount(a0, thr, vm, km)) if a0 > thr else 0.0
    g_sw = min(a0, thr)
    ka = vm / km
    # Step ends: every output time, and the switch to first order as a step end of its own.
    ends, is_out = s, np.ones(s.size, bool)
    if s[-1] > t_sw and t_sw not in s:
        at_sw = int(np.searchsorted(s, t_sw))
        ends = np.insert(s, at_sw, t_sw)
        is_out = np.insert(is_out, at_sw, False)
    starts = np.concatenate([[0.0], ends[:-1]])
    h = ends - starts
    nonlin = ends <= t_sw
    # Non-linear steps come first. Subject first while the level groups scatter their
    # rows in (a row scatter; scattering along the subject axis of the step-major layout
    # was a third of the cost), then one transposed copy for the recursion below.
    incr_n = np.zeros((n, p, int(np.count_nonzero(nonlin))))
    # Non-linear steps: Gauss-Legendre in time.
    width = math.pi * km / vm
    for hv in np.unique(h[nonlin & (h > 0)]):
        cols = np.flatnonzero(nonlin & (h == hv))
        base = max(1, math.ceil(hv / width))
        level = np.maximum(0.0, np.ceil(np.log2(np.maximum(lam[:, 0] * hv / base, 1e-300)
                                                / 6.0)))
        for lev in np.unique(level):
            # The nodes and their decay factors depend on the step length and the
            # subject's rates, not on the gut: the classes of one plan share them.
            key = (float(hv), base, float(lev))
            if key not in decays:
                who = np.flatnonzero(level == lev)
                tau, wts = _graded_nodes(hv, base, int(lev))  # offsets from the step end
                decays[key] = who, tau, wts, np.exp(-lam[who, :, None] * tau)  # (m, p, nodes)
            who, tau, wts, ex = decays[key]
            v = starts[cols][None, :] + (hv - tau)[:, None]  # (nodes, steps)
            rate = _absorption_rate(a0, vm, km, v, wts)  # (nodes, steps), shared
            part = np.matmul(ex, rate)  # (m, p, steps): one product per subject
            steps = (slice(int(cols[0]), int(cols[-1]) + 1)
                     if cols[-1] - cols[0] + 1 == cols.size else cols)
            if who.size == n:
                incr_n[:, :, steps] = part
            elif isinstance(steps, slice):
                incr_n[who, :, steps] = part
            else:
                incr_n[np.ix_(who, np.arange(p), cols)] = part
    incr = np.ascontiguousarray(incr_n.transpose(2, 1, 0))  # (steps, p, n)
    # First-order steps: the gut at each step start is shared, the kernel per subject.
    lin = np.flatnonzero(~nonlin)
    g0 = np.zeros(ends.size)
    g0[lin] = g_sw * np.exp(-ka * (starts[lin] - t_sw))
    kern = {float(hv): np.ascontiguousarray(
        chain_kernel(1, np.full((n, 1), ka), lam, np.full((n, 1), hv)).T)
        for hv in np.unique(h[lin])}  # (p, n)
    decay = {float(hv): np.exp(-lam.T * hv) for hv in np.unique(h)}
    cur = np.zeros((p, n))
    tmp = np.empty((p, n))
    j_out = 0
    # Python scalars and lists: a step of a small block costs little more than its lookups.
    for j, (hv, nl, g, keep) in enumerate(zip(h.tolist(), nonlin.tolist(), g0.tolist(),
                                              is_out.tolist(), strict=True)):
        cur *= decay[hv]
        if nl:
            cur += incr[j]
        elif g:
            np.multiply(kern[hv], g, out=tmp)
            cur += tmp
        if keep:
            out[j_out] = cur
            j_out += 1
    return out


def _modal_sum(modal: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """sum_i proj[:, i] * modal[:, i]: modal amplitudes (S, p, n) to amounts (S, n)."""
    out = modal[:, 0] * proj[:, 0]
    for i in range(1, modal.shape[1]):
        out += modal[:, i] * proj[:, i]
    return out


def _washout_events(dose_times: np.ndarray, horizon: float, times: np.ndarray) -> np.ndarray:
    """Doses of nothing after the last dose up to ``horizon``, one dosing interval (the
    last) apart, or for a single dose 48 output steps apart, as for a single dose of a
    linear model (``_regular_train_plan``): on a regular grid every washout interval then
    visits the same times since dose, so they share their responses, and the cost does
    not grow with the length of the washout. None where the output times do not repeat
    from one washout interval to the next, or are fewer than the intervals."""
    if dose_times.size >= 2:
        ii = float(dose_times[-1] - dose_times[-2])
    elif times.size >= 2 * _SINGLE_DOSE_STEPS and times[1] > times[0]:
        ii = _SINGLE_DOSE_STEPS * float(times[1] - times[0])
    else:
        return np.zeros(0)
    count = math.floor((horizon - float(dose_times[-1])) / ii)
    if not 1 <= count <= times.size:
        return np.zeros(0)
    events = dose_times[-1] + ii * np.arange(1, count + 1)
    after = times[times >= events[0]]
    k = np.searchsorted(events, after, side="right") - 1
    runs = regular_runs(k, after - events[k])
    # One stretch of whole intervals and a partial last one at most.
    return events if runs is not None and len(runs) <= 2 else np.zeros(0)


def _mm_group(sys: System, vm: float, km: float, dose_times: np.ndarray, doses: np.ndarray,
              gut0: float, x0: list[np.ndarray], times: np.ndarray, end_h: float | None):
    """:func:`mm_plan` for subjects sharing their gut (doses, start amount, Vm, Km), at
    sorted ``times``, from disposition amounts ``x0`` (central first): the plan's parts
    and the state at the end."""
    n, nd = sys.n, _n_disposition(sys)
    horizon = max(float(times.max(initial=0.0)), end_h or 0.0, float(dose_times[-1]))
    n_doses = dose_times.size
    wash = _washout_events(dose_times, horizon, times)
    dose_times = np.concatenate([dose_times, wash])
    doses = np.concatenate([doses, np.zeros(wash.size)])
    k_events = dose_times.size
    lengths = np.append(np.diff(dose_times), horizon - dose_times[-1])
    one = np.ones(1)
    a0 = _gut_scan(doses[None, :], np.array([gut0]), vm * one, km * one, lengths)[0]
    # The gut carried in counts too: a step of no doses starts from it alone.
    scale = max(float(np.max(doses, initial=0.0)), gut0, 1e-300)
    # Intervals whose gut starts agree to 1e-13 (all, once a regimen settles) share the
    # driven part of the solution. A gut that starts at or below the first-order threshold
    # (the washout: what is left of the last dose) drives the disposition in proportion
    # to its amount, so all such intervals share the response to the threshold amount,
    # weighted by their own amount over it (the coefficient of the driven part).
    thr = MM_LINEAR_FRACTION * km
    first_order = (a0 > 0) & (a0 <= thr)
    weight = np.where(first_order, a0 / thr, 1.0)
    classes: dict = {}
    cls = np.array([classes.setdefault(
        "first order" if first_order[k] else float(np.round(a0[k] / scale, 13)), len(classes))
        for k in range(k_events)])
    start_of = {c: thr if key == "first order" else None for key, c in classes.items()}
    for k in range(k_events - 1, -1, -1):
        if start_of[cls[k]] is not thr:
            start_of[cls[k]] = float(a0[k])
    k_of = np.searchsorted(dose_times, times, side="right") - 1
    s_out = times - dose_times[k_of]
    cls_out = cls[k_of]
    k_end = n_doses - 1 if end_h is None else int(
        np.searchsorted(dose_times, end_h, side="right") - 1)
    u_end = 0.0 if end_h is None else end_h - dose_times[k_end]
    # Interval lengths at which each class's states are carried on (and the end time).
    carry: dict[int, list] = {c: [] for c in range(len(classes))}
    for k in range(k_events - 1):
        carry[int(cls[k])].append(float(lengths[k]))
    carry[int(cls[k_end])].append(float(u_end))
    # Per class: its basis (n, nd + 1, S_c) at the times since dose of its outputs, free
    # evolution from unit central and unit peripheral amounts (the disposition's unit-state
    # responses) then the driven part; and the driven part in every disposition state
    # where states are carried on (the interval ends and the end time). The class that
    # has every output time since dose goes first: the unit-state responses are computed
    # once, into its basis, and the other classes take theirs from it.
    proj = _projectors(sys)
    s_all = np.unique(s_out)
    s_basis: dict[int, np.ndarray] = {
        int(c): np.unique(s_out[cls_out == c]) for c in np.unique(cls_out)}
    bases: dict[int, np.ndarray] = {}
    drive_end: dict[int, dict[float, list[np.ndarray]]] = {}
    free = None
    decays: dict = {}
    for c in sorted(carry, key=lambda c: s_basis[c].size if c in s_basis else 0,
                    reverse=True):
        ends = np.unique(carry[c])
        s_c = s_basis.get(c, np.zeros(0))
        if not s_c.size and not ends.size:
            continue
        su = np.unique(np.concatenate([s_c, ends]))
        modal = _mm_modal(sys, start_of[c], vm, km, su, decays)  # (S, p, n)
        central = _modal_sum(modal, proj[0])  # (S, n)
        at_ends = np.searchsorted(su, ends)
        per = [_modal_sum(modal[at_ends], pk) for pk in proj[1:]]  # each (len(ends), n)
        drive_end[c] = {end: [central[i], *(v[e] for v in per)]
                        for e, (end, i) in enumerate(zip(ends.tolist(), at_ends, strict=True))}
        del modal, per
        if not s_c.size:
            continue
        basis = np.empty((n, nd + 1, s_c.size))
        if free is None and s_c.size == s_all.size:
            free = basis[:, :nd]
            basis_central(sys, s_all, out=free[:, :sys.lam.shape[1]])
            # A one-compartment model has no peripheral responses: its row repeats the
            # central one (its coefficient, the peripheral amount, is always 0).
            free[:, sys.lam.shape[1]:] = free[:, :1]
        else:
            if free is None:
                free = basis_central(sys, s_all)
            basis[:, :nd] = free if s_c.size == s_all.size else np.take(
                free, np.searchsorted(s_all, s_c), axis=2)
        basis[:, nd] = central[np.searchsorted(su, s_c)].T
        bases[c] = basis
        del central

    def driven_at(k: int, u: float) -> list[np.ndarray]:
        # Driven part of interval k, u after its start, in every disposition state.
        z = drive_end[int(cls[k])][u]
        return [v * weight[k] for v in z] if first_order[k] else z

    # Disposition state at every interval start, x_{k+1} = Phi(L_k) x_k + z_k, and the
    # coefficient of the driven part: (intervals, nd + 1, n), as blocks take them.
    phi: dict[float, list[list[np.ndarray]]] = {}
    xs = np.empty((k_events, nd + 1, n))
    xs[:, nd] = weight[:, None]
    x = [np.array(v, float) for v in x0]
    for k in range(k_events):
        for j in range(nd):
            xs[k, j] = x[j]
        if k + 1 == k_events:
            break
        length = float(lengths[k])
        if length not in phi:
            phi[length] = [[m[:, 0] for m in row]
                           for row in _unit_free(sys, np.array([length]))]
        x = _affine_step(phi[length], x, driven_at(k, length))

    parts: list[Block | Dense] = []
    runs = regular_runs(k_of, s_out)
    if len(runs) > 16 and 4 * len(runs) > times.size:
        # Times that do not repeat from interval to interval: value by value.
        vals = np.empty((n, times.size))
        for c in np.unique(cls_out):
            cols = np.flatnonzero(cls_out == c)
            b = np.take(bases[c], np.searchsorted(s_basis[c], s_out[cols]), axis=2)
            xk = xs[k_of[cols]]  # (len, nd + 1, n)
            # Elementwise, so no subject's sum depends on the block's shape.
            acc = xk[:, 0].T * b[:, 0]
            for j in range(1, nd + 1):
                acc = acc + xk[:, j].T * b[:, j]
            vals[:, cols] = acc
        parts.append(Dense(slice(None), vals))
        runs = []
    for start, m, p in runs:
        k0 = int(k_of[start])
        # A stretch of intervals shares one basis only within a class.
        ks = cls[k0:k0 + m]
        cut = np.flatnonzero(np.diff(ks)) + 1
        for a, b in zip(np.concatenate([[0], cut]), np.concatenate([cut, [m]]), strict=True):
            c = int(ks[a])
            basis = bases[c]
            sel = np.searchsorted(s_basis[c], s_out[start:start + p])
            # A run of consecutive distinct times (every aligned grid) is a view.
            b_sel = basis[:, :, sel[0]:sel[0] + p] if np.array_equal(
                sel, np.arange(sel[0], sel[0] + p)) else np.take(basis, sel, axis=2)
            parts.append(Block(start + int(a) * p, xs[k0 + a:k0 + b], b_sel,
                               subjects_last=True))

    f_end = [[m[:, 0] for m in row] for row in _unit_free(sys, np.array([u_end]))]
    x1 = _affine_step(f_end, [xs[k_end, j] for j in range(nd)], driven_at(k_end, u_end))
    g1 = float(gut_profile(np.array([a0[k_end]]), np.array([u_end]), vm * one, km * one)[0])
    return parts, (np.full(n, g1), *x1)


def mm_plan(sys: System, vm: np.ndarray, km: np.ndarray, dose_times: np.ndarray,
            doses: np.ndarray, times: np.ndarray,
            start_state: tuple[np.ndarray, ...] | None = None,
            end_h: float | None = None,
            ) -> tuple[Plan, tuple[np.ndarray, ...]]:
    """Central amounts for oral doses with Michaelis-Menten absorption, as a :class:`Plan`.

    The gut is scanned dose by dose (exact). The disposition is linear, so within a dosing
    interval it is the free evolution of its state at the interval start plus a driven
    part that depends only on the gut amount at the start and the time since the dose
    (:func:`_mm_modal`); intervals whose gut amounts agree to 1e-13 (all of them, once a
    periodic regimen has settled) share it. Interval-start states follow an exact affine
    recursion (2x2; 3x3 with three compartments), and every stretch of the sorted output
    times that repeats the same times since dose is one :class:`Block`. Subjects are
    solved in groups that share their gut (fixed-mg doses and no variability on Vm, Km:
    everyone), so each subject's values depend on its own parameters only.

    Parameters
    ----------
    dose_times : (D,) sorted dose times (h), shared by all subjects.
    doses : (n, D) dose amounts reaching the gut (mg), or (1, D) shared by all.
    times : (T,) output times (>= 0), in any order.
    start_state : (gut, central, peripheral[, second peripheral]) at time 0, default
        empty.
    end_h : also return the state at this time.

    Returns
    -------
    plan : central amounts (n, T)
    state : (gut, central, peripheral[, second peripheral]) at ``end_h`` (default: just
        after the last dose).
    """
    n, nd = sys.n, _n_disposition(sys)
    zero = np.zeros(n)
    gut0, *x0 = start_state if start_state is not None else (zero,) * (nd + 1)
    times = np.asarray(times, float)
    dose_times = np.asarray(dose_times, float)
    # (1, D) when every subject has the same doses: a view, not n copies.
    doses = np.asarray(doses, float)
    doses = np.broadcast_to(doses.reshape(n if doses.size == n * dose_times.size else 1,
                                          dose_times.size), (n, dose_times.size))
    if dose_times.size == 0 or dose_times[0] > 0:
        # A dose of nothing at time 0 starts the first interval from the start state.
        dose_times = np.concatenate([[0.0], dose_times])
        doses = np.concatenate([np.zeros((n, 1)), doses], axis=1)
    order = None
    if np.any(np.diff(times) < 0):
        order = np.argsort(times, kind="stable")
        times = times[order]
    gut0, vm, km, *x0 = (np.broadcast_to(np.asarray(x, float), (n,))
                         for x in (gut0, vm, km, *x0))
    if all(np.all(x == x[:1]) for x in (doses, gut0, vm, km)):
        groups = [np.arange(n)]
    else:
        _, inv = np.unique(np.column_stack([doses, gut0, vm, km]), axis=0,
                           return_inverse=True)
        inv = inv.ravel()
        groups = [np.flatnonzero(inv == g) for g in range(int(inv.max()) + 1)]
    state = tuple(np.empty(n) for _ in range(nd + 1))
    plan = None
    vals = np.empty((n, times.size)) if len(groups) > 1 or order is not None else None
    for idx in groups:
        i = int(idx[0])
        whole = idx.size == n
        parts, st = _mm_group(sys if whole else subset(sys, idx), float(vm[i]), float(km[i]),
                              dose_times, doses[i], float(gut0[i]), [x[idx] for x in x0], times,
                              end_h)
        plan = Plan(idx.size, times.size, tuple(parts), ())
        if vals is not None:
            vals[idx] = plan.values()
        for dst, src in zip(state, st, strict=True):
            dst[idx] = src
    if vals is not None:
        plan = dense_plan(vals if order is None else vals[:, np.argsort(order)])
    return plan, state


def mm_central(sys: System, vm: np.ndarray, km: np.ndarray, dose_times: np.ndarray,
               doses: np.ndarray, times: np.ndarray,
               start_state: tuple[np.ndarray, ...] | None = None,
               end_h: float | None = None,
               ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Central amount (n, T) for oral doses with Michaelis-Menten absorption, and the
    state (gut, central, peripherals) at ``end_h`` (default: just after the last dose).

    See :func:`mm_plan` for the method and the parameters.
    """
    plan, state = mm_plan(sys, vm, km, dose_times, doses, times, start_state, end_h)
    return plan.values(), state


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
    nd = _n_disposition(sys)
    _, (_, *z) = mm_central(sys, vm, km, offsets, doses, np.zeros(0),
                            start_state=(gut,) + (np.zeros(n),) * nd, end_h=period_h)
    f = _unit_free(sys, np.array([period_h]))
    phi = np.stack([np.stack([f[k][j][:, 0] for j in range(nd)], -1) for k in range(nd)], 1)
    x = np.linalg.solve(np.eye(nd)[None] - phi, np.stack(z, -1)[:, :, None])[:, :, 0]
    out, _ = mm_central(sys, vm, km, offsets, doses, times,
                        start_state=(gut, *(x[:, j] for j in range(nd))))
    return out
