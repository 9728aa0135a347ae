"""Exposure metrics of predicted concentration-time profiles: one registry, pure functions.

The inputs are model predictions on a uniform grid, not sparse observations, so the
metrics use the accuracy that a dense smooth profile allows: composite Simpson's rule for
the AUC, a parabola through the three grid points around an interior extremum for Cmax
and Cmin, and linear interpolation of threshold crossing times. The window of every
metric is the whole grid passed in: the caller passes exactly one dosing interval or
cycle (e.g. one steady-state period ``[t0, t0 + tau]`` including both end points, or the
first week after the first dose).

``METRICS`` is the single registry of names, CDISC codes, units, definitions and
DataFrame column names; ``docs/metrics.md`` is generated from it by
``scripts/gen_metrics_doc.py``. Numerical accuracy is documented there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from pkdose.errors import PkdoseError
from pkdose.regimen import HOURS_PER_WEEK

#: Concentrations in [-NEGATIVE_TOLERANCE, 0) are solver round-off and are set to 0;
#: anything more negative is a bug upstream and is refused.
NEGATIVE_TOLERANCE = 1e-12
#: Allowed deviation of a grid step from the mean step, relative to the step. Grids made
#: with np.linspace/np.arange deviate by ~1e-12 relative; a real resampling error is larger.
UNIFORM_GRID_RTOL = 1e-6

_X = "{x}"  # placeholder for the threshold in per-threshold column names


@dataclass(frozen=True)
class Metric:
    """One exposure metric.

    Attributes
    ----------
    name : str
        Name as used in the field, e.g. ``"Cmax"``.
    cdisc : str or None
        CDISC SDTM PK parameter test code (PPTESTCD), or None where CDISC has none.
    unit : str
        Unit of the value: ``ng/mL``, ``h``, ``ng*h/mL``, ``%`` or ``ratio``.
    definition : str
        One-sentence definition.
    column : str
        Stable DataFrame column name including the unit. Per-threshold metrics hold the
        template ``{x}``; use :meth:`column_for` to fill it in.
    """

    name: str
    cdisc: str | None
    unit: str
    definition: str
    column: str

    @property
    def per_threshold(self) -> bool:
        """True if the metric is computed once per concentration threshold."""
        return _X in self.column

    def column_for(self, threshold: float | None = None) -> str:
        """Column name, with the threshold filled in for per-threshold metrics.

        Thresholds are written without trailing zeros and with ``p`` for the decimal
        point, so 1.0 -> ``t_above_1_h`` and 2.5 -> ``t_above_2p5_h``.
        """
        if not self.per_threshold:
            if threshold is not None:
                raise PkdoseError(f"{self.name} has no threshold; call column_for() without one")
            return self.column
        if threshold is None:
            raise PkdoseError(f"{self.name} is per threshold; pass the threshold in ng/mL")
        return self.column.replace(_X, _threshold_label(float(threshold)))


_REGISTRY = (
    Metric("Cmax", "CMAX", "ng/mL",
           "Maximum concentration over the window, refined between grid points by a "
           "parabola through the grid maximum and its two neighbours.",
           "cmax_ng_ml"),
    Metric("Tmax", "TMAX", "h",
           "Time of Cmax from the window start (first maximum if tied), refined by the "
           "same parabola as Cmax.",
           "tmax_h"),
    Metric("Ctrough", "CTROUGH", "ng/mL",
           "Concentration at the end of the window, just before the next dose, which at "
           "steady state equals the pre-dose concentration at the window start.",
           "ctrough_ng_ml"),
    Metric("Cmin", "CMIN", "ng/mL",
           "Minimum concentration over the window, parabola-refined when it lies between "
           "the end points.",
           "cmin_ng_ml"),
    Metric("Cavg", "CAVG", "ng/mL",
           "Average concentration over the window, AUCtau divided by the window length.",
           "cavg_ng_ml"),
    Metric("AUCtau", "AUCTAU", "ng*h/mL",
           "Area under the concentration-time curve over the whole window (one dosing "
           "interval or cycle), by composite Simpson's rule.",
           "auctau_ng_h_ml"),
    Metric("AUC168", None, "ng*h/mL",
           "Exposure per week, Cavg * 168 h, comparable between regimens with different "
           "dosing intervals (the AUC over one week at steady state).",
           "auc168_ng_h_ml"),
    Metric("Tabove", None, "h",
           "Total time in the window with concentration above the threshold x ng/mL, with "
           "crossing times linearly interpolated between grid points (no CDISC code found; "
           "some NCA tools use TAT).",
           f"t_above_{_X}_h"),
    Metric("Tbelow_longest", None, "h",
           "Longest continuous time with concentration below the threshold x ng/mL; with "
           "periodic=True a run at the window end continues at the window start.",
           f"t_below_{_X}_longest_h"),
    Metric("PTF", "FLUCP", "%",
           "Peak-trough fluctuation, 100 * (Cmax - Cmin) / Cavg.",
           "ptf_pct"),
    Metric("Swing", "SWING", "ratio",
           "(Cmax - Cmin) / Cmin as a ratio (PKNCA reports 100 times this), inf when Cmin "
           "is 0 and Cmax is positive.",
           "swing"),
    Metric("Rac", "ARAUC", "ratio",
           "Accumulation ratio, AUCtau at steady state divided by AUCtau over the first "
           "dosing interval (code ARAUC as used by NCA tools, not checked against the "
           "CDISC PKPARMCD codelist itself).",
           "rac"),
    Metric("T90ss", None, "h",
           "Start time of the first dosing interval whose Cavg reaches 90% of the "
           "steady-state Cavg, NaN if none does.",
           "t90ss_h"),
)

#: The registry, by metric name, in table order. Read-only: metrics are defined here only.
METRICS: Mapping[str, Metric] = MappingProxyType({m.name: m for m in _REGISTRY})


def metric_table() -> pd.DataFrame:
    """The registry as a table with columns name, cdisc, unit, definition, column.

    Returns
    -------
    pandas.DataFrame
        One row per metric, in registry order.
    """
    return pd.DataFrame(
        [(m.name, m.cdisc, m.unit, m.definition, m.column) for m in METRICS.values()],
        columns=["name", "cdisc", "unit", "definition", "column"],
        dtype=object,  # keeps cdisc None (not NaN) where CDISC has no code
    )


# --------------------------------------------------------------------------- validation


def _threshold_label(x: float) -> str:
    # Positional shortest round-trip form: 1.0 -> "1", 0.25 -> "0p25"; never "1e-05".
    return np.format_float_positional(x, trim="-").replace(".", "p")


def _as_time_grid(time_h) -> tuple[np.ndarray, float]:
    try:
        t = np.asarray(time_h, dtype=float)
    except (TypeError, ValueError):
        raise PkdoseError("time_h must be a 1-D array of times in hours") from None
    if t.ndim != 1:
        raise PkdoseError(f"time_h must be 1-D, got shape {t.shape}; pass the one time grid "
                          "shared by all subjects")
    if t.size < 2:
        raise PkdoseError(f"time_h has {t.size} point(s); a window needs at least its start "
                          "and end, e.g. np.linspace(0, tau, 241)")
    if not np.all(np.isfinite(t)):
        raise PkdoseError("time_h contains NaN or inf; pass finite times in hours")
    dt = np.diff(t)
    if np.any(dt <= 0):
        j = int(np.argmax(dt <= 0))
        raise PkdoseError(f"time_h must be strictly increasing, but time_h[{j + 1}] = "
                          f"{t[j + 1]:g} follows time_h[{j}] = {t[j]:g}; sort the grid and "
                          "drop duplicate times")
    h = (t[-1] - t[0]) / (t.size - 1)
    dev = np.abs(dt - h)
    if dev.max() > UNIFORM_GRID_RTOL * h:
        j = int(np.argmax(dev))
        raise PkdoseError(f"time_h must be uniformly spaced, but step {j} is {dt[j]:g} h "
                          f"against a mean step of {h:g} h; predict on "
                          "np.linspace(t0, t1, n) instead")
    return t, float(h)


def _as_profiles(values, n_time: int, name: str) -> np.ndarray:
    """Validated non-negative concentrations, shape (n_time,) or (n, n_time), as a copy."""
    try:
        c = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise PkdoseError(f"{name} must be an array of concentrations in ng/mL") from None
    if c.ndim not in (1, 2) or c.shape[-1] != n_time:
        raise PkdoseError(f"{name} must have shape ({n_time},) or (n_subjects, {n_time}) to "
                          f"match the time grid, got {c.shape}")
    bad = ~np.isfinite(c)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise PkdoseError(f"{name} has {int(bad.sum())} NaN or inf value(s), the first at "
                          f"index {where}; check the model parameters and regimen of that "
                          "subject")
    if c.size and c.min() < -NEGATIVE_TOLERANCE:
        where = tuple(int(i) for i in np.unravel_index(np.argmin(c), c.shape))
        raise PkdoseError(f"{name} has a negative concentration {c.min():.3g} ng/mL at index "
                          f"{where}; concentrations must be >= 0 (round-off down to "
                          f"-{NEGATIVE_TOLERANCE:g} is set to 0)")
    np.maximum(c, 0.0, out=c)
    return c


def _as_thresholds(values, name: str) -> np.ndarray:
    try:
        x = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise PkdoseError(f"{name} must be a sequence of concentrations in ng/mL") from None
    if x.ndim != 1:
        raise PkdoseError(f"{name} must be a flat sequence of thresholds, got shape {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise PkdoseError(f"{name} thresholds must be finite and >= 0 ng/mL, got "
                          f"{x.tolist()}")
    labels = [_threshold_label(v) for v in x]
    if len(set(labels)) != len(labels):
        raise PkdoseError(f"{name} has repeated thresholds {x.tolist()}; list each once")
    return x


# --------------------------------------------------------------------------- numerics


def _quadrature_weights(n_points: int, h: float) -> np.ndarray:
    """Weights w with AUC = conc @ w: composite Simpson, 3/8 rule for an odd tail.

    Simpson needs an even number of intervals. For an odd number >= 3 the last three
    intervals use Simpson's 3/8 rule, which has the same O(h^4) order, rather than a
    trapezoid (O(h^2)) that would dominate the error. One interval: trapezoid.
    """
    n_int = n_points - 1
    w = np.zeros(n_points)
    if n_int == 1:
        w[:] = 0.5 * h
        return w
    n_simpson = n_int if n_int % 2 == 0 else n_int - 3
    if n_simpson:
        w[0:n_simpson + 1:2] += 2.0 * h / 3.0
        w[1:n_simpson:2] += 4.0 * h / 3.0
        w[[0, n_simpson]] -= h / 3.0
    if n_int % 2:
        w[n_simpson:n_simpson + 4] += np.array([1.0, 3.0, 3.0, 1.0]) * (3.0 * h / 8.0)
    return w


def _refine_extremum(
    c: np.ndarray, idx: np.ndarray, sign: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex of the parabola through grid points idx-1, idx, idx+1 of each row.

    sign = +1 refines a maximum, -1 a minimum. Returns (offset from idx in grid steps,
    in [-1/2, 1/2], and the vertex value). End points, flat or wrong-curvature
    neighbourhoods and kinks are left on the grid: there is no smooth vertex to move to.
    """
    n, n_time = c.shape
    rows = np.arange(n)
    grid_value = c[rows, idx]
    if n_time < 3:
        return np.zeros(n), grid_value
    i = np.clip(idx, 1, n_time - 2)
    y0, y1, y2 = c[rows, i - 1], c[rows, i], c[rows, i + 1]
    curv = y0 - 2.0 * y1 + y2
    # At a kink (a dose at the trough, a bolus or the end of an infusion at the peak) the
    # middle second difference is far larger than one of its neighbours' and a parabola
    # over- or undershoots by up to 1/8 of the larger step: keep the grid value there. On
    # a smooth curve neighbouring second differences agree to O(h).
    left = np.where(i >= 2, c[rows, np.maximum(i - 2, 0)] - 2.0 * y0 + y1, np.inf)
    right = np.where(i + 2 < n_time, y1 - 2.0 * y2 + c[rows, np.minimum(i + 2, n_time - 1)],
                     np.inf)
    smooth = np.abs(curv) <= 2.0 * np.minimum(np.abs(left), np.abs(right))
    ok = (idx > 0) & (idx < n_time - 1) & (sign * curv < 0) & smooth
    safe = np.where(ok, curv, 1.0)
    # |offset| <= 1/2 holds analytically when y1 is the extremum; the clip guards round-off.
    offset = np.where(ok, np.clip(0.5 * (y0 - y2) / safe, -0.5, 0.5), 0.0)
    value = np.where(ok, y1 - 0.25 * (y0 - y2) * offset, grid_value)
    return offset, value


def _fraction_above(a: np.ndarray, b: np.ndarray, x: float, below: bool = False
                    ) -> np.ndarray:
    """Fraction of each grid interval where the linear interpolant from a to b exceeds x
    (``below``: is under x).

    1 or 0 where both ends are on one side; at a crossing (a few intervals per profile)
    the crossing position s = (x - a) / (b - a), or 1 - s. Rounding is monotonic, so s
    lies in [0, 1] there without clipping.
    """
    side_a, side_b = (a < x, b < x) if below else (a > x, b > x)
    frac = side_a.astype(float)
    cross = side_a != side_b
    if cross.any():
        ca, cb = a[cross], b[cross]
        s = (x - ca) / (cb - ca)  # cb != ca: the ends lie on either side of x
        frac[cross] = np.where(side_a[cross], s, 1.0 - s)
    return frac


def _longest_below(c: np.ndarray, x: float, h: float, periodic: bool) -> np.ndarray:
    """Longest continuous time with the linear interpolant of each row below x.

    On each grid interval the set below x is empty, a prefix, a suffix or the whole
    interval, so runs are chained through grid points below x. Each interval's below
    length is credited to the below grid point it touches, grid points are labelled by
    run, and the run lengths are summed with one bincount over all subjects.
    """
    n, n_time = c.shape
    below = c < x
    some = below.any(axis=1)
    if not some.all():
        # With no grid point below x the interpolant never is: 0, and the work goes to
        # the rows that dip (at steady state usually a minority).
        out = np.zeros(n)
        if some.any():
            out[some] = _longest_below(c[some], x, h, periodic)
        return out
    seg = h * _fraction_above(c[:, :-1], c[:, 1:], x, below=True)
    # Points in one run share a label; a point not below x starts a new label.
    label = np.cumsum(~below, axis=1)
    owner = np.where(below[:, :-1], np.arange(n_time - 1), np.arange(1, n_time))
    owner_label = np.take_along_axis(label, owner, axis=1)
    flat = (np.arange(n)[:, None] * (n_time + 1) + owner_label).ravel()
    runs = np.bincount(flat, weights=seg.ravel(), minlength=n * (n_time + 1))
    runs = runs.reshape(n, n_time + 1)
    longest = runs.max(axis=1)
    if periodic:
        # t0 and t0 + tau are the same instant of the cycle: join the last run to the first.
        rows = np.arange(n)
        first, last = label[:, 0], label[:, -1]
        wrap = below[:, 0] & below[:, -1] & (first != last)
        joined = runs[rows, first] + runs[rows, last]
        longest = np.where(wrap, np.maximum(longest, joined), longest)
    return np.minimum(longest, h * (n_time - 1))


# --------------------------------------------------------------------------- metrics


def interval_metrics(time_h, conc, *, above: Sequence[float] = (1.0, 3.0, 4.0),
                     below: Sequence[float] = (1.0,), periodic: bool = True
                     ) -> dict[str, np.ndarray]:
    """Exposure metrics over one window (dosing interval or cycle), for every subject.

    Parameters
    ----------
    time_h : array_like, shape (T,)
        Uniformly spaced, strictly increasing times in hours, T >= 2, covering exactly
        the window including both end points (e.g. ``np.linspace(t0, t0 + tau, 481)``).
    conc : array_like, shape (T,) or (n_subjects, T)
        Predicted concentrations in ng/mL. NaN, inf and values below -1e-12 are refused;
        round-off in [-1e-12, 0) is set to 0.
    above : sequence of float, optional
        Thresholds x in ng/mL for the total time above x (column ``t_above_{x}_h``).
    below : sequence of float, optional
        Thresholds x in ng/mL for the longest continuous time below x
        (column ``t_below_{x}_longest_h``).
    periodic : bool, optional
        Treat the window as one cycle of a periodic steady state: a run below a threshold
        at the window end continues at its start. Pass False for a non-periodic window
        such as the first week after the first dose.

    Returns
    -------
    dict of str to numpy.ndarray
        Keyed by the column names of ``METRICS``: cmax_ng_ml, tmax_h, ctrough_ng_ml,
        cmin_ng_ml, cavg_ng_ml, auctau_ng_h_ml, auc168_ng_h_ml, t_above_{x}_h per ``above``,
        t_below_{x}_longest_h per ``below``, ptf_pct, swing. Each array has shape
        ``conc.shape[:-1]``: (n_subjects,), or () for a single profile.

    Raises
    ------
    PkdoseError
        For an invalid grid, concentrations or thresholds.

    Notes
    -----
    Cmax and Cmin at an interior grid extremum are the vertex of the parabola through
    that point and its neighbours (never below the grid maximum / above the grid minimum;
    Cmin is kept >= 0), Tmax is the vertex time. AUCtau is composite Simpson (3/8 rule on
    the last three intervals for an odd interval count, trapezoid for a single interval).
    Ctrough is the last grid value: the concentration just before the next dose.
    PTF is NaN for an all-zero profile. Swing is inf when Cmin is 0 and Cmax > 0, NaN
    for an all-zero profile. Above means C > x and below means C < x.
    """
    t, h = _as_time_grid(time_h)
    c = _as_profiles(conc, t.size, "conc")
    above_x = _as_thresholds(above, "above")
    below_x = _as_thresholds(below, "below")
    shape = c.shape[:-1]
    c = c.reshape(-1, t.size)
    window = t[-1] - t[0]

    i_max = np.argmax(c, axis=1)
    off_max, cmax = _refine_extremum(c, i_max, +1.0)
    tmax = np.clip((i_max + off_max) * h, 0.0, window)
    i_min = np.argmin(c, axis=1)
    _, cmin = _refine_extremum(c, i_min, -1.0)
    cmin = np.maximum(cmin, 0.0)
    auc = c @ _quadrature_weights(t.size, h)
    cavg = auc / window

    out = {
        METRICS["Cmax"].column: cmax,
        METRICS["Tmax"].column: tmax,
        METRICS["Ctrough"].column: c[:, -1].copy(),
        METRICS["Cmin"].column: cmin,
        METRICS["Cavg"].column: cavg,
        METRICS["AUCtau"].column: auc,
        METRICS["AUC168"].column: cavg * HOURS_PER_WEEK,
    }
    for x in above_x:
        frac = _fraction_above(c[:, :-1], c[:, 1:], x)
        out[METRICS["Tabove"].column_for(x)] = np.minimum(h * frac.sum(axis=1), window)
    for x in below_x:
        out[METRICS["Tbelow_longest"].column_for(x)] = _longest_below(c, x, h, periodic)
    with np.errstate(divide="ignore", invalid="ignore"):
        # 0/0 (all-zero profile) gives NaN and x/0 gives inf, as documented.
        out[METRICS["PTF"].column] = 100.0 * (cmax - cmin) / cavg
        out[METRICS["Swing"].column] = (cmax - cmin) / cmin
    return {k: v.reshape(shape) for k, v in out.items()}


def _as_nonnegative(values, name: str) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise PkdoseError(f"{name} must be numbers") from None
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise PkdoseError(f"{name} must be finite and >= 0; check the profile it came from")
    return v


def accumulation_ratio(auc_first, auc_ss) -> np.ndarray:
    """Accumulation ratio Rac = AUCtau at steady state / AUCtau over the first interval.

    Parameters
    ----------
    auc_first : array_like
        AUCtau of the first dosing interval (ng*h/mL), e.g. ``auctau_ng_h_ml`` of
        :func:`interval_metrics` on the first interval.
    auc_ss : array_like
        AUCtau of a steady-state interval of the same length (ng*h/mL); broadcast
        against ``auc_first``.

    Returns
    -------
    numpy.ndarray
        The ratio (column ``rac``); inf where auc_first is 0 and auc_ss > 0, NaN where
        both are 0.

    Raises
    ------
    PkdoseError
        For NaN, inf, negative or non-broadcastable inputs.
    """
    first = _as_nonnegative(auc_first, "auc_first")
    ss = _as_nonnegative(auc_ss, "auc_ss")
    try:
        first, ss = np.broadcast_arrays(first, ss)
    except ValueError:
        raise PkdoseError(f"auc_first {first.shape} and auc_ss {ss.shape} must have the same "
                          "number of subjects") from None
    with np.errstate(divide="ignore", invalid="ignore"):
        return ss / first


def time_to_fraction_of_ss(interval_start_h, cavg_by_interval, cavg_ss,
                           fraction: float = 0.9) -> np.ndarray:
    """Start time of the first interval whose Cavg reaches a fraction of steady state.

    Parameters
    ----------
    interval_start_h : array_like, shape (K,)
        Strictly increasing start times of consecutive dosing intervals, in hours
        (typically since the first dose; need not be uniform).
    cavg_by_interval : array_like, shape (K,) or (n_subjects, K)
        Cavg of each interval (ng/mL), e.g. ``cavg_ng_ml`` of :func:`interval_metrics`
        per interval.
    cavg_ss : float or array_like, shape () or (n_subjects,)
        Steady-state Cavg (ng/mL).
    fraction : float, optional
        Fraction of ``cavg_ss`` to reach, in (0, 1]; 0.9 gives T90ss (column ``t90ss_h``).

    Returns
    -------
    numpy.ndarray, shape cavg_by_interval.shape[:-1]
        The start time, or NaN where no interval reaches it or cavg_ss is 0.

    Raises
    ------
    PkdoseError
        For invalid times, concentrations, shapes or fraction.
    """
    try:
        starts = np.asarray(interval_start_h, dtype=float)
    except (TypeError, ValueError):
        raise PkdoseError("interval_start_h must be a 1-D array of times in hours") from None
    if starts.ndim != 1 or starts.size == 0:
        raise PkdoseError(f"interval_start_h must be a non-empty 1-D array, got shape "
                          f"{starts.shape}")
    if not np.all(np.isfinite(starts)) or np.any(np.diff(starts) <= 0):
        raise PkdoseError("interval_start_h must be finite and strictly increasing; sort "
                          "the intervals by start time")
    try:
        frac = float(fraction)
    except (TypeError, ValueError):
        frac = float("nan")
    if not 0.0 < frac <= 1.0:
        raise PkdoseError(f"fraction must be a number in (0, 1], got {fraction!r}")
    cav = _as_profiles(cavg_by_interval, starts.size, "cavg_by_interval")
    css = _as_nonnegative(cavg_ss, "cavg_ss")
    try:
        css = np.broadcast_to(css, cav.shape[:-1])
    except ValueError:
        raise PkdoseError(f"cavg_ss {css.shape} must be one value per subject "
                          f"{cav.shape[:-1]}") from None
    target = (frac * css)[..., None]
    reached = (cav >= target) & (target > 0)
    first = np.argmax(reached, axis=-1)
    return np.where(reached.any(axis=-1), starts[first], np.nan)


# --------------------------------------------------------------------------- tables


def _column_pattern() -> re.Pattern[str]:
    parts = []
    for m in METRICS.values():
        if m.per_threshold:
            head, tail = m.column.split(_X)
            parts.append(re.escape(head) + r"\d+(?:p\d+)?" + re.escape(tail))
        else:
            parts.append(re.escape(m.column))
    return re.compile("^(?:" + "|".join(parts) + ")$")


def metrics_frame(values: Mapping[str, object], index=None) -> pd.DataFrame:
    """Metric values as a DataFrame, one row per subject and one column per metric.

    Parameters
    ----------
    values : mapping of str to array_like
        Metric arrays keyed by registry column names (e.g. the output of
        :func:`interval_metrics`, plus ``rac`` or ``t90ss_h``). Scalars count as one
        subject; every array must have the same length.
    index : sequence, optional
        Row labels (e.g. subject ids); default 0..n-1 named ``subject``.

    Returns
    -------
    pandas.DataFrame
        Columns in the order given.

    Raises
    ------
    PkdoseError
        For a column name not in the registry or arrays of different lengths.
    """
    pattern = _column_pattern()
    data = {}
    for key, val in values.items():
        if not pattern.match(str(key)):
            raise PkdoseError(f"unknown metric column {key!r}; use a column name of "
                              "pkdose.exposure.METRICS, e.g. 'cmax_ng_ml' or 't_above_3_h'")
        arr = np.atleast_1d(np.asarray(val, dtype=float))
        if arr.ndim != 1:
            raise PkdoseError(f"{key} must be one value per subject, got shape {arr.shape}")
        data[key] = arr
    lengths = {k: v.size for k, v in data.items()}
    if len(set(lengths.values())) > 1:
        raise PkdoseError(f"metric arrays differ in length {lengths}; compute them for the "
                          "same subjects")
    n = next(iter(lengths.values()), 0)
    if index is None:
        idx = pd.RangeIndex(n, name="subject")
    else:
        idx = pd.Index(index)
        if len(idx) != n:
            raise PkdoseError(f"index has {len(idx)} labels for {n} subject(s)")
    return pd.DataFrame(data, index=idx)
