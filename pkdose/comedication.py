"""Co-medications that start and stop: their text, and their effect over time.

A :class:`Comedication` names a co-medication (with the context words of
:mod:`pkdose.interactions`, e.g. ``"ciclosporin 4h"``) and, optionally, the days it is
taken: ``"ketoconazole day 8-14"`` or, on the command line, ``ketoconazole:day8-day14``.
Days count from the regimen's first dose (day 1 is its first 24 h), so ``day 8-14`` is
from 168 h to 336 h.

While it is taken, the co-medication's cited fold-changes on CL and F
(``pkdose/data/interactions.toml``) are approached with first-order kinetics, and after
it stops they wear off the same way. The half-lives come from the co-medication's own
``[comedication.NAME]`` table, cited there, by mechanism:

``reversible``
    A competitive inhibitor acts while it is in the body: onset and offset follow its
    own elimination half-life. The inhibitor concentration rises as
    ``phi(t) = 1 - exp(-k t)``, and for a competitive inhibitor ``CL0 / CL = 1 + I / Ki``
    is linear in it, so ``1 / factor`` moves linearly with ``phi``.
``enzyme``
    A mechanism-based inhibitor or an inducer changes the amount of CYP3A4, which
    returns to baseline only as the enzyme is made anew: ``dE/dt = kdeg (E_target - E)``.
    Clearance is proportional to the enzyme amount, so ``factor`` moves linearly with
    ``phi``; offset (and an inducer's onset) follow the degradation half-life. A
    mechanism-based inhibitor's onset is faster: inactivation adds to degradation, and
    at the new steady state ``E_ss / E0 = kdeg / (kdeg + kinact_obs)``, so its onset
    half-life is the degradation half-life times ``E_ss / E0`` (taken as the CL factor).

The continuous factors are applied as steps (:func:`factor_steps`): the progress
``r = exp(-k t)`` of each transition is cut into :data:`STEPS_PER_TRANSITION` equal parts,
then halved down to :data:`TAIL_FRACTION`, and each step holds the factor at the time
average of ``r`` over its part, so the step factor never differs from the continuous one
by more than one part and the error cancels to first order within each step. The solver
(:mod:`pkdose.timevarying`) is exact for the steps; the step error is checked against
``scipy.integrate.solve_ivp`` on the continuous model in the tests (``docs/interactions.md``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pkdose.errors import PkdoseError
from pkdose.limits import MAX_TIME_H, exceeded, format_value

__all__ = ["Comedication", "FactorSteps", "STEPS_PER_TRANSITION", "TAIL_FRACTION",
           "comedication_kinetics", "continuous_factors", "factor_steps", "parse_comedication",
           "parse_comedications"]

HOURS_PER_DAY = 24.0
#: Equal parts of each onset or offset transition (in r = exp(-k t)); the step error in
#: the factor is at most half a part of the transition's span.
STEPS_PER_TRANSITION = 32
#: Below this fraction of its span a transition is taken as complete.
TAIL_FRACTION = 1e-6

_COLON = re.compile(r"^(?P<name>[^:]+):\s*(?P<when>.+)$")
_WHEN = (
    # day 8-14, days 8 to 14, day8-day14
    re.compile(r"^days?\s*(?P<a>\d+)\s*(?:-|to|until)\s*(?:days?\s*)?(?P<b>\d+)$"),
    # from day 8 [to day 14]
    re.compile(r"^(?:from\s+)?days?\s*(?P<a>\d+)\s*-?(?:\s*(?:to|until)\s*days?\s*(?P<b>\d+))?$"),
    # until day 14
    re.compile(r"^(?:until|to|-)\s*days?\s*(?P<b>\d+)$"),
)
_TRAILING = re.compile(
    r"\s+(?P<when>(?:(?:on\s+)?days?\s*\d+\s*(?:-|to|until)\s*(?:days?\s*)?\d+)"
    r"|(?:from\s+days?\s*\d+(?:\s+(?:to|until)\s+days?\s*\d+)?)"
    r"|(?:until\s+days?\s*\d+))$", re.IGNORECASE)


def _day_hours(day: int, what: str, text: str) -> float:
    hours = float(day) * HOURS_PER_DAY
    if hours > MAX_TIME_H:
        raise exceeded("time_h", f"{what} day {day:,} in {text!r} "
                       f"({format_value(hours, 'h')})")
    return hours


@dataclass(frozen=True)
class Comedication:
    """A co-medication, with the days it is taken (both None: the whole course).

    Attributes
    ----------
    name : str
        The co-medication with its context words, as :func:`pkdose.interactions.
        get_interaction` reads it (``"ciclosporin 4h"``).
    first_day, last_day : int or None
        First and last day taken (1 = the first 24 h from the first dose); None: from
        before the first dose, or never stopped.
    """

    name: str
    first_day: int | None = None
    last_day: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise PkdoseError("a co-medication needs a name, e.g. 'ketoconazole'")
        for key in ("first_day", "last_day"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise PkdoseError(f"a co-medication's days are whole numbers from 1 (the "
                                  f"first day of the regimen), got {key} = {v!r}")
        text = str(self)
        for key in ("first_day", "last_day"):
            if getattr(self, key) is not None:
                _day_hours(getattr(self, key), key.split("_")[0], text)
        if (self.first_day is not None and self.last_day is not None
                and self.last_day < self.first_day):
            raise PkdoseError(f"{text!r}: the last day ({self.last_day}) comes before the "
                              f"first ({self.first_day}); write e.g. 'day 8-14'")

    @property
    def timed(self) -> bool:
        """True when it starts after the first dose or stops."""
        return self.first_day is not None or self.last_day is not None

    @property
    def start_h(self) -> float:
        """Hours from the first dose when it is first taken (-inf: before)."""
        return -math.inf if self.first_day is None else (self.first_day - 1) * HOURS_PER_DAY

    @property
    def stop_h(self) -> float:
        """Hours from the first dose when it is last taken (end of its last day; inf)."""
        return math.inf if self.last_day is None else self.last_day * HOURS_PER_DAY

    @property
    def when(self) -> str:
        """The days as text: ``day 8-14``, ``from day 8``, ``until day 14`` or ``""``."""
        if self.first_day is not None and self.last_day is not None:
            return f"day {self.first_day}-{self.last_day}"
        if self.first_day is not None:
            return f"from day {self.first_day}"
        if self.last_day is not None:
            return f"until day {self.last_day}"
        return ""

    def __str__(self) -> str:
        return f"{' '.join(self.name.split())} {self.when}".strip()


def parse_comedication(text: str | Comedication) -> Comedication:
    """A co-medication from text: ``"ketoconazole"``, ``"ketoconazole day 8-14"``,
    ``"ketoconazole:day8-day14"``, ``"rifampin from day 3"``, ``"ciclosporin until day 60"``.

    The name (with its context words) is checked against the interaction data.

    Raises
    ------
    PkdoseError
        An unknown co-medication or context, days that cannot be read, or a last day
        before the first.
    """
    if isinstance(text, Comedication):
        return text
    if not isinstance(text, str) or not text.strip():
        raise PkdoseError(f"a co-medication must be a name, got {text!r}")
    raw = " ".join(text.split())
    name, when = raw, ""
    m = _COLON.match(raw)
    if m:
        name, when = m["name"].strip(), m["when"].strip()
    else:
        t = _TRAILING.search(raw)
        if t:
            name, when = raw[:t.start()].strip(), t["when"].strip()
            when = re.sub(r"^on\s+", "", when, flags=re.IGNORECASE)
    first = last = None
    if when:
        for pattern in _WHEN:
            w = pattern.match(when.lower())
            if w:
                first = int(w["a"]) if "a" in w.groupdict() and w["a"] else None
                last = int(w["b"]) if w["b"] else None
                break
        else:
            raise PkdoseError(f"cannot read the days of {raw!r}; write e.g. "
                              "'ketoconazole:day8-day14', 'ketoconazole day 8-14', "
                              "'rifampin from day 3' or 'ciclosporin until day 60'")
    from pkdose.interactions import split_context

    split_context(name)  # an unknown co-medication or context is refused here
    return Comedication(name, first, last)


def parse_comedications(items: Iterable[str | Comedication] | str | None
                        ) -> tuple[Comedication, ...]:
    """Several co-medications (one text is one); see :func:`parse_comedication`."""
    if not items:
        return ()
    if isinstance(items, (str, Comedication)):
        items = [items]
    return tuple(parse_comedication(x) for x in items)


@dataclass(frozen=True)
class Kinetics:
    """How a co-medication's effect comes and goes (from its ``[comedication]`` table)."""

    mechanism: str             # "reversible" or "enzyme"
    half_life_h: float         # perpetrator elimination (reversible) or CYP3A4 degradation
    reason: str
    source: str


def comedication_kinetics(name: str) -> Kinetics | None:
    """The cited onset/offset kinetics of a co-medication (None when none is cited)."""
    from pkdose.interactions import comedication_table

    spec = comedication_table(name).get("kinetics")
    if not spec:
        return None
    return Kinetics(str(spec["mechanism"]), float(spec["half_life_h"]),
                    str(spec.get("reason", "")), str(spec.get("source", "")))


def _progress_edges(span_h: float, k: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Times (from the transition start) at which r = exp(-k t) crosses the step edges,
    and the r value held over each step (its middle), for a transition lasting
    ``span_h`` (inf: to completion)."""
    uniform = 1.0 - np.arange(steps + 1) / steps  # 1 .. 0 in equal parts
    uniform = uniform[:-1]  # stop at one part above 0
    tail = []
    r = 1.0 / steps
    while r > TAIL_FRACTION:
        r /= 2.0
        tail.append(r)
    edges_r = np.concatenate([uniform, tail, [0.0]])  # decreasing, ends at 0
    with np.errstate(divide="ignore"):
        times = -np.log(edges_r) / k
    # The time average of r over each part, (r_a - r_b) / ln(r_a / r_b): the step then
    # carries the part's exact mean, so its error cancels to first order.
    ra, rb = edges_r[:-1], edges_r[1:]
    held = np.zeros_like(ra)
    some = rb > 0
    held[some] = (ra[some] - rb[some]) / np.log(ra[some] / rb[some])
    keep = times[:-1] < span_h
    return times[:-1][keep], held[keep]


def _value(mechanism: str, target: float, phi: np.ndarray) -> np.ndarray:
    """The factor at progress ``phi`` (0 none, 1 full) towards ``target``."""
    if mechanism == "reversible":
        return 1.0 / (1.0 + phi * (1.0 / target - 1.0))
    return 1.0 + phi * (target - 1.0)


def _onset_half_life(kin: Kinetics, cl_target: float, f_target: float) -> float:
    """Onset half-life: for a mechanism-based inhibitor the degradation half-life times the
    enzyme fraction left at the new steady state, read from CL (CL ~ enzyme) or, for a
    gut-wall inhibitor that leaves CL alone, from F (1/F_G ~ enzyme at high extraction)."""
    remaining = min(cl_target, 1.0 / f_target)
    if kin.mechanism == "enzyme" and remaining < 1.0:
        # Mechanism-based inactivation: kdeg + kinact_obs = kdeg / (E_ss / E0).
        return kin.half_life_h * remaining
    return kin.half_life_h


@dataclass(frozen=True)
class FactorSteps:
    """Piecewise-constant factors on CL and F: step ``j`` holds from ``edges_h[j - 1]``
    (``-inf`` for ``j = 0``) to ``edges_h[j]`` (``inf`` after the last edge).

    CL acts all the time, so it is held at the middle of each part of a transition (the
    error cancels to first order over a step). F acts only at the instant of a dose, so a
    dose given during a transition takes the continuous F at its own time
    (:meth:`f_at`); ``f`` is the value held where F no longer changes.
    """

    edges_h: np.ndarray
    cl: np.ndarray
    f: np.ndarray
    notes: tuple[str, ...] = ()
    drug: str = ""
    comedications: tuple[Comedication, ...] = ()

    @property
    def n_steps(self) -> int:
        """Number of constant steps."""
        return self.cl.size

    def f_at(self, times_h: np.ndarray) -> np.ndarray:
        """The continuous F factor at ``times_h`` (for doses given during a transition)."""
        return continuous_factors(self.drug, self.comedications, times_h)[1]

    def dose_f(self, times_h: np.ndarray) -> np.ndarray:
        """The F factor each dose at ``times_h`` gets: the continuous one in a step where F
        changes, else the step's held value."""
        t = np.asarray(times_h, float)
        k = np.searchsorted(self.edges_h, t, side="right")
        out = self.f[k].astype(float)
        lo = np.concatenate([[-math.inf], self.edges_h])[k]
        hi = np.concatenate([self.edges_h, [math.inf]])[k]
        moving = np.array([self.f_changes(a, b) for a, b in zip(lo, hi, strict=True)], bool)
        if moving.any():
            out[moving] = self.f_at(t[moving])
        return out

    def f_changes(self, lo_h: float, hi_h: float) -> bool:
        """True when F changes within ``[lo_h, hi_h)`` by more than rounding."""
        if not (math.isfinite(lo_h) and math.isfinite(hi_h)):
            return False
        a, b = self.f_at(np.array([lo_h, np.nextafter(hi_h, lo_h)]))
        return abs(a - b) > 1e-12 * max(abs(a), abs(b))


def _one(drug: str, comed: Comedication, steps: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Edges, CL factors and F factors of one timed co-medication."""
    from pkdose.interactions import get_interaction

    row = get_interaction(drug, comed.name)
    kin = comedication_kinetics(row.comedication)
    cl_t, f_t = row.cl_factor, row.f_factor
    if kin is None and (cl_t != 1.0 or f_t != 1.0):
        raise PkdoseError(
            f"no cited onset and offset kinetics for {row.comedication}, so it cannot start "
            f"or stop during the regimen ({str(comed)!r}); give it for the whole course "
            "(without days), or see `pkdose interactions` for those that can")
    start, stop = comed.start_h, comed.stop_h
    if kin is None:
        edges = np.array([x for x in (start, stop) if math.isfinite(x)])
        return edges, np.ones(edges.size + 1), np.ones(edges.size + 1), ""
    k_on = math.log(2.0) / _onset_half_life(kin, cl_t, f_t)
    k_off = math.log(2.0) / kin.half_life_h
    edges: list[float] = []
    phis: list[float] = [0.0 if math.isfinite(start) else 1.0]  # before the first edge
    phi_stop = 1.0
    if math.isfinite(start):
        t, r = _progress_edges(stop - start, k_on, steps)
        edges += list(start + t)
        phis += list(1.0 - r)
        phi_stop = 1.0 - math.exp(-k_on * (stop - start)) if math.isfinite(stop) else 1.0
    if math.isfinite(stop):
        t, r = _progress_edges(math.inf, k_off, steps)
        edges += list(stop + t)
        phis += list(phi_stop * r)
    phi = np.array(phis)
    note = (f"{comed}: {row.comedication} effect builds and wears off with a half-life of "
            f"{kin.half_life_h:g} h ({kin.mechanism}; {kin.source})")
    return (np.array(edges), _value(kin.mechanism, cl_t, phi), _value(kin.mechanism, f_t, phi),
            note)


def continuous_factors(drug: str, comeds: Sequence[Comedication], times_h: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The continuous CL and F factors at ``times_h`` that :func:`factor_steps` approximates
    (the reference the steps are checked against)."""
    from pkdose.interactions import get_interaction

    t = np.asarray(times_h, float)
    cl = np.ones_like(t)
    f = np.ones_like(t)
    for comed in comeds:
        row = get_interaction(drug, comed.name)
        kin = comedication_kinetics(row.comedication)
        if kin is None:
            continue
        k_on = math.log(2.0) / _onset_half_life(kin, row.cl_factor, row.f_factor)
        k_off = math.log(2.0) / kin.half_life_h
        start, stop = comed.start_h, comed.stop_h
        with np.errstate(over="ignore", invalid="ignore"):
            on = np.where(t < start, 0.0, -np.expm1(-k_on * (np.minimum(t, stop) - start)))
            if not math.isfinite(start):
                on = np.where(t < stop, 1.0, on)
            at_stop = 1.0 if not math.isfinite(start) else -math.expm1(-k_on * (stop - start))
            phi = np.where(t < stop, on, at_stop * np.exp(-k_off * (t - stop)))
        cl *= _value(kin.mechanism, row.cl_factor, phi)
        f *= _value(kin.mechanism, row.f_factor, phi)
    return cl, f


def factor_steps(drug: str, comeds: Sequence[Comedication],
                 steps: int = STEPS_PER_TRANSITION) -> FactorSteps:
    """The combined step factors of timed co-medications for ``drug``.

    Several co-medications multiply their factors (as :func:`pkdose.interactions.
    interaction_factors` does for whole-course ones); the edges are the union of theirs.
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise PkdoseError(f"steps per transition must be a whole number >= 1, got {steps!r}")
    parts = [_one(drug, c, steps) for c in comeds]
    edges = np.unique(np.concatenate([p[0] for p in parts] + [np.zeros(0)]))
    cl = np.ones(edges.size + 1)
    f = np.ones(edges.size + 1)
    # Value of each part on every combined step: the part's step that contains it.
    probe = np.concatenate([[edges[0] - 1.0] if edges.size else [0.0], edges])
    for e, c, ff, _ in parts:
        idx = np.searchsorted(e, probe, side="right")
        cl *= c[idx]
        f *= ff[idx]
    return FactorSteps(edges, cl, f, tuple(p[3] for p in parts if p[3]), drug, tuple(comeds))
