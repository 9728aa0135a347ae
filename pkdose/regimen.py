"""Dosing regimens: an immutable object model, and its compilation to dose trains.

A :class:`Regimen` is a drug plus a sequence of :class:`Block` s given one after the
other. Each block repeats one :class:`Dose` on a pattern: a fixed interval, chosen days
of the week, or on/off cycles, for a number of doses, for a duration, or indefinitely.

Every regimen compiles (:func:`compile_trains`) to a tuple of :class:`DoseTrain` s:
arithmetic progressions of identical doses ``t0, t0 + ii, t0 + 2 ii, ...``. This is the
form the solver consumes, and it maps one-to-one onto NONMEM event rows
(TIME = t0, II = ii, ADDL = n - 1), which is why superposition over a train costs the
same whatever the number of doses.

Time zero is the first dose of the first block. For weekday schedules, time zero is the
first listed weekday; other weekdays are placed relative to it.

A block may instead be *anchored* (``Block.at_h``): it then starts ``at_h`` hours after
the regimen start, whatever came before it, so anchored blocks can overlap or leave gaps.
This is what NONMEM-style event tables need (each row is an independent dose train);
regimens without anchored blocks behave exactly as plain sequences.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from pkdose.comedication import Comedication, parse_comedications
from pkdose.errors import PkdoseError
from pkdose.limits import (
    DAILY_LIMIT_BY_UNIT,
    DOSE_LIMIT_BY_UNIT,
    LIMITS,
    MAX_DOSES,
    MAX_PERIOD_H,
    MAX_TIME_H,
    MAX_TRAINS,
    MIN_INFUSION_H,
    MIN_INTERVAL_H,
    exceeded,
    format_value,
)

HOURS_PER_DAY = 24.0
HOURS_PER_WEEK = 168.0
#: A calendar month as an average (365.25 / 12 days); used for "for N months" and
#: "every other month".
HOURS_PER_MONTH = 365.25 / 12.0 * 24.0

ROUTES = ("oral", "iv", "infusion", "ip", "sc", "diet")
#: Routes for animal studies only: intraperitoneal and subcutaneous injection, and drug
#: mixed into food. Human models refuse them (``pkdose.simulation.check_extrapolation``).
ANIMAL_ROUTES = ("ip", "sc", "diet")
#: Routes whose doses enter the absorption depot (the rest go into the central compartment).
DEPOT_ROUTES = ("oral", "ip", "sc", "diet")
#: ``ppm`` is mg of drug per kg of food, so it is a dose only together with route ``diet``.
AMOUNT_UNITS = ("mg", "mg/kg", "mg/m2", "ppm")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

#: Slack for comparing times built by adding floats (k * 24/7 against 24 h).
_TIME_EPS_H = 1e-9


def _hours(value: object, what: str) -> float:
    """A finite number of hours within the time limit (``what`` names it in messages)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise PkdoseError(f"{what} must be a number of hours, got {value!r}")
    if not math.isfinite(value):
        raise PkdoseError(f"{what} must be a finite number of hours, got {value}")
    if abs(value) > MAX_TIME_H:
        # The limit bounds the size of a time either way; say so for a negative one.
        size = format_value(abs(value), "h")
        raise exceeded("time_h", f"{what} of {format_value(value, 'h')}" if value > 0
                       else f"{what} of {format_value(value, 'h')} (size {size})")
    return float(value)


def _day_window_counts(offsets: Sequence[float], period: float | None) -> int:
    """Most doses of a periodic pattern within any 24 h (half-open windows).

    The busiest window starts at a dose, so windows starting at each offset of one period
    suffice; later periods repeat them.
    """
    if period is None:
        return 1
    copies = math.ceil(24.0 / period) + 1
    base = np.asarray(offsets, float)
    times = (base[None, :] + period * np.arange(copies)[:, None]).ravel()
    times.sort()
    ends = np.searchsorted(times, base + 24.0 - _TIME_EPS_H, side="left")
    starts = np.searchsorted(times, base - _TIME_EPS_H, side="left")
    return int(np.max(ends - starts))


@dataclass(frozen=True)
class Dose:
    """What is given at each administration.

    Parameters
    ----------
    amount : float
        Dose amount in ``unit``.
    unit : {"mg", "mg/kg", "mg/m2", "ppm"}
        mg/kg and mg/m2 are resolved per subject from weight or body-surface area; ppm
        (mg per kg of food, diet only) from the species' food intake.
    route : {"oral", "iv", "infusion", "ip", "sc", "diet"}
        ``iv`` is a bolus into the central compartment; ``infusion`` runs at a constant
        rate for ``infusion_h`` hours; ``ip`` and ``sc`` are injections absorbed first
        order; ``diet`` is drug in the food, eaten over each day (the day's amount is the
        dose; the species' feeding pattern spreads it over the day).
    infusion_h : float
        Infusion duration in hours (only for ``route="infusion"``).
    """

    amount: float
    unit: str = "mg"
    route: str = "oral"
    infusion_h: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.amount, (int, float)) or not math.isfinite(self.amount):
            raise PkdoseError(f"dose amount {self.amount!r} is not a number; give e.g. 2 mg")
        if self.amount <= 0:
            raise PkdoseError(f"dose amount must be positive, got {self.amount:g} {self.unit}")
        if self.unit not in AMOUNT_UNITS:
            raise PkdoseError(
                f"unknown dose unit {self.unit!r}; use one of {', '.join(AMOUNT_UNITS)}"
            )
        if self.amount > LIMITS[DOSE_LIMIT_BY_UNIT[self.unit]].value:
            raise exceeded(DOSE_LIMIT_BY_UNIT[self.unit],
                           f"a dose of {self.amount:g} {self.unit}")
        if self.route not in ROUTES:
            raise PkdoseError(f"unknown route {self.route!r}; use one of {', '.join(ROUTES)}")
        if not isinstance(self.infusion_h, (int, float)) or isinstance(self.infusion_h, bool):
            raise PkdoseError(f"an infusion duration must be a number of hours, "
                              f"got {self.infusion_h!r}")
        if self.route == "infusion":
            if not (self.infusion_h > 0 and math.isfinite(self.infusion_h)):
                raise PkdoseError("an infusion needs a positive duration, e.g. 'over 2 h'")
            if self.infusion_h < MIN_INFUSION_H:
                raise exceeded("min_infusion_h",
                               f"an infusion over {format_value(self.infusion_h, 'h')}")
            _hours(self.infusion_h, "an infusion duration")
        elif self.infusion_h != 0:
            raise PkdoseError("an infusion duration only applies to route 'infusion'")
        if self.unit == "ppm" and self.route != "diet":
            raise PkdoseError(
                "ppm (mg per kg of food) is a dose only in the diet; write e.g. "
                "'rapamycin 14 ppm diet'"
            )
        if self.route == "diet" and self.unit not in ("ppm", "mg/kg"):
            raise PkdoseError(
                "a diet dose is a concentration in food (ppm) or a daily dose in mg/kg, "
                f"not {self.unit}"
            )


@dataclass(frozen=True)
class Block:
    """One dose repeated on a pattern; blocks of a regimen follow one another.

    Exactly one pattern applies: a single dose (``interval_h`` None and no
    ``weekdays``), a fixed interval, or days of the week. ``on_h``/``off_h`` add an
    on/off cycle over the pattern. The block stops after ``n_doses`` doses, after
    ``duration_h`` hours (doses strictly before that time), or never (``None`` for both:
    only allowed for the last block, or for a block followed by an anchored one).

    ``at_h`` anchors the block: it starts ``at_h`` hours after the regimen's ``start_h``
    instead of when the previous block ends (None, the default).
    """

    dose: Dose
    interval_h: float | None = None
    weekdays: tuple[int, ...] = ()
    on_h: float | None = None
    off_h: float | None = None
    n_doses: int | None = None
    duration_h: float | None = None
    at_h: float | None = None
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.dose, Dose):
            raise PkdoseError(f"a block's dose must be a Dose, got {type(self.dose).__name__}")
        for key in ("interval_h", "on_h", "off_h", "duration_h", "at_h"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, (int, float))
                                      or isinstance(value, bool)):
                raise PkdoseError(f"{key} must be a number of hours, got {value!r}")
        if self.interval_h is not None and not (
            math.isfinite(self.interval_h) and self.interval_h > 0
        ):
            raise PkdoseError(f"dosing interval must be positive, got {self.interval_h:g} h")
        if self.interval_h is not None:
            if self.interval_h < MIN_INTERVAL_H:
                raise exceeded("min_interval_h",
                               f"dosing every {format_value(self.interval_h, 'h')}")
            if self.interval_h > MAX_PERIOD_H:
                raise exceeded("period_h", f"dosing every {format_value(self.interval_h, 'h')}")
        if not isinstance(self.weekdays, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in self.weekdays
        ):
            raise PkdoseError("weekdays must be a tuple of day numbers 0 (Mon) to 6 (Sun)")
        if self.weekdays:
            if self.interval_h is not None:
                raise PkdoseError("give either an interval or days of the week, not both")
            if sorted(set(self.weekdays)) != list(self.weekdays) or not all(
                0 <= d <= 6 for d in self.weekdays
            ):
                raise PkdoseError("weekdays must be distinct days Mon..Sun in week order")
        if (self.on_h is None) != (self.off_h is None):
            raise PkdoseError("an on/off cycle needs both parts, e.g. '5 days on 9 days off'")
        if self.on_h is not None:
            if self.interval_h is None and not self.weekdays:
                raise PkdoseError("an on/off cycle needs a dosing interval inside the 'on' part")
            # Finiteness matters: pattern() walks the 'on' period dose by dose.
            if not (
                self.on_h > 0
                and self.off_h > 0
                and math.isfinite(self.on_h)
                and math.isfinite(self.off_h)
            ):
                raise PkdoseError("on and off periods must both be positive")
            # Each cycle restarts the weekday pattern: either the cycle lasts whole weeks,
            # or its 'on' part does and the break may be anything ("2 weeks per month").
            if self.weekdays and (self.on_h + self.off_h) % HOURS_PER_WEEK and (
                self.on_h % HOURS_PER_WEEK
            ):
                raise PkdoseError(
                    "an on/off cycle over weekdays must last whole weeks, or be on for "
                    "whole weeks"
                )
            if self.on_h + self.off_h > MAX_PERIOD_H:
                raise exceeded("period_h", "an on/off cycle of "
                               f"{format_value(self.on_h + self.off_h, 'h')}")
            # An 'on' part shorter than the interval holds one dose, so the cycle, not the
            # interval, sets the dosing: "2 mg daily 1 h on 1 h off" would dose every 2 h.
            if self.interval_h is not None and self.on_h < self.interval_h * (1 - 1e-12):
                period = format_value(self.on_h + self.off_h, "h")
                raise PkdoseError(
                    f"the 'on' part of the cycle ({format_value(self.on_h, 'h')}) is shorter "
                    f"than the dosing interval ({format_value(self.interval_h, 'h')}), so each "
                    f"cycle holds one dose and doses would come every {period}; give the on "
                    "and off parts in days or weeks (e.g. '5 days on 9 days off'), or write "
                    f"the schedule as 'every {period}'"
                )
            # pattern() lists every dose of the 'on' part, and each becomes a dose train;
            # count them first so a slip of units is an error rather than a hang.
            if self.doses_per_period() > MAX_TRAINS:
                raise exceeded("trains", f"an on/off cycle with {self.doses_per_period():,} "
                               "doses in its 'on' part")
            # Likewise an 'off' part so short that the next cycle's first dose comes sooner
            # than the interval after the last dose ("every 4.8 h, 6 h on 0.5 h off").
            if self.interval_h is not None:
                last = self.pattern()[1][-1]
                gap = self.on_h + self.off_h - last
                if gap < self.interval_h * (1 - 1e-12):
                    raise PkdoseError(
                        f"the next cycle starts {format_value(gap, 'h')} after the last dose of "
                        f"the 'on' part, sooner than the dosing interval "
                        f"({format_value(self.interval_h, 'h')}); make the off part at least "
                        f"{format_value(self.interval_h - gap + self.off_h, 'h')}, or give "
                        "the on and off parts in days or weeks")
        if self.n_doses is not None:
            if (not isinstance(self.n_doses, (int, float)) or isinstance(self.n_doses, bool)
                    or not math.isfinite(self.n_doses) or self.n_doses < 1
                    or int(self.n_doses) != self.n_doses):
                raise PkdoseError(
                    f"number of doses must be a whole number >= 1, got {self.n_doses}"
                )
            if self.n_doses > MAX_DOSES:
                raise exceeded("doses", f"{int(self.n_doses):,} doses")
            if self.duration_h is not None:
                raise PkdoseError("give either a number of doses or a duration, not both")
        if self.duration_h is not None:
            if not (math.isfinite(self.duration_h) and self.duration_h > 0):
                raise PkdoseError(f"a block duration must be positive, got {self.duration_h} h")
            _hours(self.duration_h, "a length")
        if self.is_single and self.n_doses not in (None, 1):
            raise PkdoseError("a single dose cannot repeat; give an interval, e.g. 'daily'")
        # Each diet "dose" is one day's food, so it cannot come more often than daily.
        if self.dose.route == "diet" and self.interval_h is not None and (
            self.interval_h < HOURS_PER_DAY
        ):
            raise PkdoseError(
                "a diet is one day's food per dose, eaten every day; leave out the schedule "
                "(e.g. '14 ppm diet') and use an on/off cycle or a length for breaks"
            )
        if self.dose.route == "diet" and self.on_h is not None and (
            self.on_h + self.off_h < HOURS_PER_DAY
        ):
            raise PkdoseError(
                "a diet on/off cycle must last at least a day (one day's food per dose); "
                "write it in days, weeks or months, e.g. '14 ppm diet 2 weeks on 2 weeks off'"
            )
        if self.at_h is not None:
            if not math.isfinite(self.at_h):
                raise PkdoseError(
                    f"a block start time must be a number of hours, got {self.at_h}")
            _hours(self.at_h, "a block start time")
        if not self.is_indefinite and self.dose_count() > MAX_DOSES:
            raise exceeded("doses", f"a block of {self.dose_count():,} doses")
        daily = DAILY_LIMIT_BY_UNIT.get(self.dose.unit)
        if daily is not None:
            period, offsets = self.pattern()
            per_day = _day_window_counts(offsets, period)
            if not self.is_indefinite:
                per_day = min(per_day, self.dose_count())
            if per_day * self.dose.amount > LIMITS[daily].value * (1 + 1e-12):
                unit = self.dose.unit
                raise exceeded(daily, f"{per_day} doses of {self.dose.amount:g} {unit} within "
                               f"24 h ({per_day * self.dose.amount:g} {unit})")

    @property
    def is_single(self) -> bool:
        """True for a one-off dose (no interval and no weekdays)."""
        return self.interval_h is None and not self.weekdays

    @property
    def is_indefinite(self) -> bool:
        """True when the block never stops (it then defines a steady state)."""
        return not self.is_single and self.n_doses is None and self.duration_h is None

    def pattern(self) -> tuple[float | None, tuple[float, ...]]:
        """Period (h) and dose offsets within one period; period None for a single dose."""
        if self.is_single:
            return None, (0.0,)
        if self.weekdays:
            base = [(d - self.weekdays[0]) * HOURS_PER_DAY for d in self.weekdays]
            inner_period = HOURS_PER_WEEK
        else:
            base = [0.0]
            inner_period = float(self.interval_h)
        if self.on_h is None:
            return inner_period, tuple(base)
        period = self.on_h + self.off_h
        offsets = []
        k = 0
        while k * inner_period < self.on_h - 1e-9:
            offsets.extend(k * inner_period + b for b in base if k * inner_period + b < self.on_h)
            k += 1
        return period, tuple(offsets)

    def doses_per_period(self) -> int:
        """Number of doses in one period of the pattern (counted without listing them)."""
        if self.is_single:
            return 1
        if self.weekdays:
            base = [(d - self.weekdays[0]) * HOURS_PER_DAY for d in self.weekdays]
            inner = HOURS_PER_WEEK
        else:
            base, inner = [0.0], float(self.interval_h)
        if self.on_h is None:
            return len(base)
        # As pattern(): cycles k * inner + b below on_h, for k * inner < on_h - 1e-9.
        cycles = max(0, math.ceil((self.on_h - 1e-9) / inner))
        return sum(min(cycles, max(0, math.ceil((self.on_h - b) / inner))) for b in base)

    def dose_count(self) -> float:
        """Number of doses the block gives (inf if it never stops), as compiled."""
        if self.is_single:
            return 1
        if self.n_doses is not None:
            return int(self.n_doses)
        if self.duration_h is None:
            return math.inf
        period, offsets = self.pattern()
        # As compile_trains: doses strictly before the end of the block.
        return sum(math.ceil((self.duration_h - off) / period - 1e-9)
                   for off in offsets if off < self.duration_h)


#: One-off changes to a regimen's doses (regimen words, ``docs/regimen-format.md``).
CHANGE_KINDS = ("missed", "late", "hold", "extra")
#: Calendar units a change is counted in, with their hours.
CHANGE_UNITS = {"day": HOURS_PER_DAY, "week": HOURS_PER_WEEK}


@dataclass(frozen=True)
class DoseChange:
    """A one-off change to the doses a regimen gives.

    ``missed`` drops one dose (``dose_number``) or every dose of a day or week (``first``
    in ``unit``); ``late`` gives dose ``dose_number`` ``delay_h`` hours late, the others on
    time; ``hold`` drops every dose from the start of day/week ``first`` to the end of
    ``last``; ``extra`` adds ``dose`` at the regimen's time of day on day ``first``. Days
    and weeks count from the first dose (day 1 is its first 24 h).
    """

    kind: str
    dose_number: int | None = None
    first: int | None = None
    last: int | None = None
    unit: str = "day"
    delay_h: float = 0.0
    dose: Dose | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHANGE_KINDS:
            raise PkdoseError(f"unknown dose change {self.kind!r}; use one of "
                              f"{', '.join(CHANGE_KINDS)}")
        if self.unit not in CHANGE_UNITS:
            raise PkdoseError(f"a dose change counts days or weeks, not {self.unit!r}")
        for key in ("dose_number", "first", "last"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise PkdoseError(f"{key.replace('_', ' ')} of a dose change must be a whole "
                                  f"number from 1, got {v!r}")
            if v is not None and v > MAX_DOSES:
                raise exceeded("doses", f"{key.replace('_', ' ')} {v:,} in a dose change")
        want = {"missed": self.dose_number is not None or self.first is not None,
                "late": self.dose_number is not None and self.first is None,
                "hold": self.first is not None and self.last is not None,
                "extra": self.first is not None and isinstance(self.dose, Dose)}
        if not want[self.kind] or (self.kind == "missed" and self.dose_number is not None
                                   and self.first is not None):
            raise PkdoseError(f"a {self.kind!r} change needs "
                              + {"missed": "a dose number or a day/week ('missed dose 3', "
                                           "'missed week 3')",
                                 "late": "a dose number and a delay ('dose 2 taken 12 h late')",
                                 "hold": "first and last days ('hold days 10-14')",
                                 "extra": "a dose and a day ('extra 2 mg on day 5')"}[self.kind])
        if self.kind == "late":
            if not (isinstance(self.delay_h, (int, float)) and self.delay_h > 0):
                raise PkdoseError(f"a late dose needs a positive delay, got {self.delay_h!r}")
            _hours(self.delay_h, "a delay")
        elif self.delay_h:
            raise PkdoseError("only a late dose has a delay")
        if self.last is not None and self.first is not None and self.last < self.first:
            raise PkdoseError(f"'{self}': the last {self.unit} comes before the first")
        for v in (self.first, self.last):
            if v is not None:
                _hours(v * CHANGE_UNITS[self.unit], f"{self.unit} {v:,}")

    def window_h(self, start_h: float = 0.0) -> tuple[float, float]:
        """Hours ``[from, to)`` the change covers (one dose: a point, ``from == to``)."""
        size = CHANGE_UNITS[self.unit]
        lo = start_h + (self.first - 1) * size
        hi = start_h + (self.last if self.last is not None else self.first) * size
        return lo, hi

    def __str__(self) -> str:
        from pkdose.regimen_text import format_change

        return format_change(self)


@dataclass(frozen=True)
class Regimen:
    """A drug and a sequence of dosing blocks. Immutable; build it from text, TOML or events.

    ``comedications`` are taken with it (for the whole course, or on some days);
    ``changes`` are one-off changes to its doses (missed, late, held, extra), applied when
    it is compiled to dose trains.
    """

    drug: str
    blocks: tuple[Block, ...]
    start_h: float = 0.0
    name: str = field(default="", compare=False)
    #: Taken with food (True), fasted (False) or not said (None: the subject's ``fed``
    #: covariate decides); see ``pkdose.conditions``.
    fed: bool | None = None
    comedications: tuple[Comedication, ...] = ()
    changes: tuple[DoseChange, ...] = ()

    def __post_init__(self) -> None:
        if not self.blocks:
            raise PkdoseError("a regimen needs at least one dose")
        object.__setattr__(self, "comedications", parse_comedications(self.comedications))
        if not isinstance(self.changes, tuple) or not all(
                isinstance(c, DoseChange) for c in self.changes):
            raise PkdoseError("a regimen's changes must be DoseChange objects")
        if not all(isinstance(b, Block) for b in self.blocks):
            raise PkdoseError("a regimen's blocks must be Block objects")
        if len(self.blocks) > MAX_TRAINS:
            raise exceeded("trains", f"a regimen of {len(self.blocks):,} parts")
        if not isinstance(self.start_h, (int, float)) or not math.isfinite(self.start_h):
            raise PkdoseError(f"a regimen start time must be a number of hours, got {self.start_h}")
        _hours(self.start_h, "a regimen start time")
        for b, nxt in zip(self.blocks[:-1], self.blocks[1:], strict=True):
            # An anchored successor does not wait for this block to end.
            if b.is_indefinite and nxt.at_h is None:
                raise PkdoseError(
                    "only the last part of a regimen can go on indefinitely; "
                    "give the earlier part a length, e.g. 'for 4 weeks'"
                )
        n_trains = sum(b.doses_per_period() for b in self.blocks)
        if n_trains > MAX_TRAINS:
            raise exceeded("trains", f"a regimen of {n_trains:,} dose trains")
        n_doses = sum(b.dose_count() for b in self.blocks if not b.is_indefinite)
        if n_doses > MAX_DOSES:
            raise exceeded("doses", f"a regimen of {n_doses:,} doses")
        endless = [b for b in self.blocks if b.is_indefinite]
        if endless:
            periods = [b.pattern()[0] for b in endless]
            # raises when the periods are incommensurate or their common period too long
            common = _common_period(periods) if len(set(periods)) > 1 else periods[0]
            per_cycle = sum(round(common / p) * b.doses_per_period()
                            for b, p in zip(endless, periods, strict=True))
            if per_cycle > MAX_DOSES:
                raise exceeded("doses", f"{per_cycle:,} doses in one steady-state cycle of "
                               f"{format_value(common, 'h')}")
        starts = block_starts(self)
        for start in starts[:-1]:
            _hours(start, "a block start")
        if math.isfinite(starts[-1]):
            _hours(starts[-1], "a regimen end")
        _check_daily_amounts(compile_trains(self))
        _check_comedication_days(self)

    @property
    def has_events(self) -> bool:
        """True with a dose change or a co-medication that starts or stops: the regimen
        then has no steady state to summarise (``pkdose.engine.basis_for``)."""
        return bool(self.changes) or any(c.timed for c in self.comedications)

    def events_end_h(self) -> float:
        """Hours from the first dose to the end of the last dose change or co-medication
        start/stop (0 without any)."""
        ends = [0.0]
        plain = None
        for c in self.changes:
            if c.dose_number is None:
                ends.append(c.window_h()[1] - self.start_h)
                continue
            if plain is None:
                plain = compile_trains(replace(self, changes=()))
            ends.append(nth_dose(plain, c.dose_number)[0] + c.delay_h - self.start_h)
        for c in self.comedications:
            ends += [x for x in (c.start_h, c.stop_h) if math.isfinite(x)]
        return max(ends)

    def with_comedications(self, names) -> Regimen:
        """This regimen with more co-medications (text or :class:`Comedication`); one named
        again (same text) counts once."""
        extra = [c for c in parse_comedications(names) if c not in self.comedications]
        return replace(self, comedications=self.comedications + tuple(extra)) if extra else self

    @property
    def is_indefinite(self) -> bool:
        """True when some block goes on forever, so a periodic steady state exists.

        Without anchored blocks only the last block can be indefinite.
        """
        return any(b.is_indefinite for b in self.blocks)

    def trains(self) -> tuple[DoseTrain, ...]:
        """The dose trains of this regimen (see :func:`compile_trains`)."""
        return compile_trains(self)

    def steady_state_period_h(self) -> float | None:
        """Period of the periodic steady state (None when the regimen stops)."""
        periods = [b.pattern()[0] for b in self.blocks if b.is_indefinite]
        if not periods:
            return None
        if len(set(periods)) == 1:
            return periods[0]
        # Several indefinite anchored blocks (e.g. from an event table): the steady state
        # repeats with the least common multiple of their periods.
        return _common_period(periods)

    def end_h(self) -> float:
        """Time just after the last dose's interval (inf for an indefinite regimen).

        With anchored blocks, the latest end of any block.
        """
        return block_starts(self)[-1]

    def on_treatment(self) -> Regimen:
        """This regimen with its last repeating part going on for good.

        A trial of fixed length is compared at the steady state of its repeating dose: the
        exposure while on treatment. Regimens ending in a single dose, or already going on
        for good, are returned as they are.
        """
        last = self.blocks[-1]
        if last.is_single or last.is_indefinite or self.has_events:
            # One-off changes and timed co-medications belong to the course as given.
            return self
        return replace(self, blocks=self.blocks[:-1] + (
            replace(last, n_doses=None, duration_h=None),))

    def __str__(self) -> str:
        from pkdose.regimen_text import format_regimen

        return format_regimen(self)


@dataclass(frozen=True)
class DoseTrain:
    """Identical doses at ``t0_h + k * ii_h`` for ``k = 0 .. n - 1`` (n may be ``inf``).

    ``amount`` is in ``unit`` (mg, mg/kg or mg/m2) and is resolved per subject by the
    solver. A single dose has ``n == 1`` and ``ii_h == 0``.
    """

    t0_h: float
    ii_h: float
    n: float
    amount: float
    unit: str = "mg"
    route: str = "oral"
    infusion_h: float = 0.0

    @property
    def last_h(self) -> float:
        """Time of the last dose (inf for an endless train)."""
        return self.t0_h + (self.n - 1) * self.ii_h if math.isfinite(self.n) else math.inf


def block_length_h(block: Block, next_block: Block | None) -> float:
    """Time from a block's first dose to the next block's first dose (inf if it never ends).

    ``next_block`` matters only for a one-off dose without a length, which lasts one
    period of the block after it.
    """
    period, offsets = block.pattern()
    if block.is_single:
        # The docstring promise "stops after duration_h hours" holds for single doses too:
        # "6 mg once for 3 days then 2 mg daily" leaves a 3-day gap.
        if block.duration_h is not None:
            return block.duration_h
        if next_block is None:
            return math.inf
        nxt_period, _ = next_block.pattern()
        return nxt_period if nxt_period is not None else HOURS_PER_DAY
    if block.duration_h is not None:
        return block.duration_h
    if block.n_doses is not None:
        full, rest = divmod(block.n_doses, len(offsets))
        if rest == 0:
            return full * period
        # A partial last period: the next block starts one inner interval after the
        # last dose, as a prescriber would continue.
        last = full * period + offsets[rest - 1]
        gap = (offsets[rest] - offsets[rest - 1]) if rest < len(offsets) else period - offsets[-1]
        return last + gap
    return math.inf


def block_starts(regimen: Regimen) -> list[float]:
    """Start time of each block, and as last element the end of the regimen (h).

    An anchored block starts at ``start_h + at_h``; any other block starts when the
    previous one ends. The end of the regimen is the latest end of any block, which for
    a plain sequence is the end of the last block.
    """
    starts: list[float] = []
    ends: list[float] = []
    blocks = regimen.blocks
    for i, b in enumerate(blocks):
        if b.at_h is not None:
            start = regimen.start_h + b.at_h
        else:
            start = ends[-1] if ends else regimen.start_h
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        starts.append(start)
        ends.append(start + block_length_h(b, nxt))
    starts.append(max(ends))
    return starts


def _common_period(periods: list[float]) -> float:
    """Least common multiple of dosing periods (h) that are fractions p/q with q <= 3600.

    Refused beyond the period limit, which is checked as the multiple grows (three
    near-prime periods such as 23.9, 24.1 and 167.9 h share one only after ~1000 years).
    """
    fracs = []
    for p in periods:
        # Every float is a binary fraction, so an exact LCM always exists but can be
        # astronomically long; only "nice" fractions of an hour (24/7, 23.9) count.
        f = Fraction(p).limit_denominator(3600)
        if abs(float(f) - p) > 1e-12 * p:
            raise PkdoseError(
                f"dose trains repeating every {p:g} h and every {periods[0]:g} h have no "
                "common period, so the regimen has no steady state; give them a length"
            )
        fracs.append(f)
    # Fractions are in lowest terms, so lcm(p/q, r/s) = lcm(p, r) / gcd(q, s).
    den = math.gcd(*(f.denominator for f in fracs))
    num = 1
    for f in fracs:
        num = math.lcm(num, f.numerator)
        if num > MAX_PERIOD_H * den:
            listed = ", ".join(f"{p:g}" for p in sorted(set(periods))[:5])
            raise exceeded("period_h", f"a common period of {num / den:,.0f} h or more (for "
                           f"dose trains repeating every {listed} h)")
    return float(Fraction(num, den))


def max_amount_per_day(trains: Sequence[DoseTrain],
                       amounts: Sequence[float] | np.ndarray | None = None) -> float:
    """Most given within 24 h counted from the first dose of each train.

    Parameters
    ----------
    trains : sequence of DoseTrain
    amounts : sequence of float, optional
        Amount per dose of each train (e.g. resolved to mg); default ``train.amount``.

    Returns
    -------
    float
        The largest sum of amounts whose dose times fall in ``[t0, t0 + 24 h)`` for some
        train's first dose ``t0``. This catches doses piled up across trains (event rows
        at the same time, overlapping anchored blocks); the busiest 24 h within one
        block's pattern is checked by :class:`Block` itself.
    """
    if not trains:
        return 0.0
    t0 = np.array([t.t0_h for t in trains], float)
    ii = np.array([t.ii_h for t in trains], float)
    n = np.array([t.n for t in trains], float)
    amt = np.asarray([t.amount for t in trains] if amounts is None else amounts, float)
    starts = np.unique(t0)
    safe_ii = np.where(ii > 0, ii, 1.0)
    best = 0.0
    # Windows x trains in chunks of about a million cells.
    chunk = max(1, 1_000_000 // len(trains))
    for i in range(0, starts.size, chunk):
        a = starts[i:i + chunk, None]
        rel = a - t0[None, :]
        k_lo = np.maximum(0.0, np.ceil((rel - _TIME_EPS_H) / safe_ii))
        k_hi = np.ceil((rel + 24.0 - _TIME_EPS_H) / safe_ii) - 1.0
        k_hi = np.minimum(k_hi, n[None, :] - 1.0)
        repeating = np.maximum(0.0, k_hi - k_lo + 1.0)
        single = ((t0[None, :] >= a - _TIME_EPS_H)
                  & (t0[None, :] < a + 24.0 - _TIME_EPS_H)).astype(float)
        count = np.where(ii[None, :] > 0, repeating, single)
        best = max(best, float(np.max(count @ amt)))
    return best


def _check_daily_amounts(trains: Sequence[DoseTrain]) -> None:
    """Refuse a regimen whose trains together give more than the daily limit of a unit."""
    for unit, name in DAILY_LIMIT_BY_UNIT.items():
        same = [t for t in trains if t.unit == unit]
        if len(same) < 2:
            continue  # one train is one block's pattern, already checked
        most = max_amount_per_day(same)
        if most > LIMITS[name].value * (1 + 1e-12):  # sums of floats: a rounding's slack
            raise exceeded(name, f"{most:g} {unit} within 24 h (doses of several parts or "
                           "event rows together)")


def compile_trains(regimen: Regimen) -> tuple[DoseTrain, ...]:
    """Compile a regimen into dose trains, ordered by first dose time.

    Each block contributes one train per dose offset within its period, so the number
    of trains depends on the pattern (e.g. 5 for "5 days on 9 days off") but never on how
    long the regimen runs.
    """
    n_trains = sum(b.doses_per_period() for b in regimen.blocks)
    if n_trains > MAX_TRAINS:
        raise exceeded("trains", f"a regimen of {n_trains:,} dose trains")
    starts = block_starts(regimen)
    trains: list[DoseTrain] = []
    for b, start in zip(regimen.blocks, starts, strict=False):
        period, offsets = b.pattern()
        d = b.dose
        common = dict(amount=d.amount, unit=d.unit, route=d.route, infusion_h=d.infusion_h)
        if period is None:
            trains.append(DoseTrain(start, 0.0, 1, **common))
            continue
        m = len(offsets)
        for j, off in enumerate(offsets):
            if b.n_doses is not None:
                count = b.n_doses // m + (1 if j < b.n_doses % m else 0)
            elif b.duration_h is not None:
                count = math.ceil((b.duration_h - off) / period - 1e-9) if off < b.duration_h else 0
            else:
                count = math.inf
            if count <= 0:
                continue
            ii = period if count > 1 else 0.0
            trains.append(DoseTrain(start + off, ii, count, **common))
    trains.sort(key=lambda t: t.t0_h)
    if regimen.changes:
        trains = apply_changes(trains, regimen.changes, regimen.start_h, starts[-1])
    return tuple(trains)


def without_doses(trains: Sequence[DoseTrain], lo_h: float, hi_h: float
                  ) -> tuple[list[DoseTrain], int]:
    """The trains with every dose at ``lo_h <= t < hi_h`` removed, and how many were.

    Each train splits into the part before and the part after the window, so removing
    doses never lists them (an endless train stays endless after the window).
    """
    out: list[DoseTrain] = []
    removed = 0
    for tr in trains:
        if tr.ii_h == 0:
            if lo_h - _TIME_EPS_H <= tr.t0_h < hi_h - _TIME_EPS_H:
                removed += 1
            else:
                out.append(tr)
            continue
        k_lo = min(tr.n, max(0, math.ceil((lo_h - tr.t0_h) / tr.ii_h - 1e-9)))
        k_hi = min(tr.n, max(0, math.ceil((hi_h - tr.t0_h) / tr.ii_h - 1e-9)))
        removed += k_hi - k_lo
        if k_lo > 0:
            out.append(replace(tr, ii_h=tr.ii_h if k_lo > 1 else 0.0, n=k_lo))
        if tr.n - k_hi > 0:
            n = tr.n - k_hi
            out.append(replace(tr, t0_h=tr.t0_h + k_hi * tr.ii_h,
                               ii_h=tr.ii_h if n > 1 else 0.0, n=n))
    return out, int(removed)


def nth_dose(trains: Sequence[DoseTrain], number: int) -> tuple[float, DoseTrain]:
    """Time and train of dose ``number`` (1 = the first), found by bisection on the dose
    count, so no dose is listed.

    Raises
    ------
    PkdoseError
        The regimen gives fewer doses.
    """
    total = count_doses(trains, MAX_TIME_H)
    if number > total:
        raise PkdoseError(f"dose {number:,} does not exist: the regimen gives "
                          f"{total:,.0f} doses")
    lo = min(tr.t0_h for tr in trains) - 1.0
    hi = MAX_TIME_H
    while hi - lo > 1e-6:
        mid = 0.5 * (lo + hi)
        if count_doses(trains, mid) >= number:
            hi = mid
        else:
            lo = mid
    for tr in trains:
        k = 0 if tr.ii_h == 0 else round((hi - tr.t0_h) / tr.ii_h)
        t = tr.t0_h + k * tr.ii_h
        if 0 <= k < tr.n and abs(t - hi) < 1e-5:
            return t, tr
    raise PkdoseError(f"dose {number:,} could not be placed")  # pragma: no cover


def apply_changes(trains: Sequence[DoseTrain], changes: Sequence[DoseChange], start_h: float,
                  end_h: float) -> list[DoseTrain]:
    """Dose trains with one-off changes applied (see :class:`DoseChange`).

    Raises
    ------
    PkdoseError
        A change after the regimen ends, one that hits no dose, changes that overlap, or a
        dose number the regimen does not reach.
    """
    out = list(trains)
    taken: list[tuple[float, float, str]] = []
    end_day = (f"day {math.ceil((end_h - start_h) / HOURS_PER_DAY - 1e-9):,}"
               if math.isfinite(end_h) else "never")
    for ch in changes:
        if ch.dose_number is not None:
            # Numbered as scheduled, whatever other changes did.
            t, tr = nth_dose(trains, ch.dose_number)
            lo, hi = t - 1e-6, t + 1e-6
        else:
            lo, hi = ch.window_h(start_h)
            if lo >= end_h:
                raise PkdoseError(f"'{ch}' lies after the regimen ends ({end_day}); "
                                  "give a day within it")
        for a, b, other in taken:
            if lo < b and a < hi:
                raise PkdoseError(f"'{ch}' and '{other}' overlap; give each dose one change")
        if ch.kind == "extra":
            day_offset = (min(tr.t0_h for tr in trains) - start_h) % HOURS_PER_DAY
            d = ch.dose
            out.append(DoseTrain(lo + day_offset, 0.0, 1, d.amount, d.unit, d.route,
                                 d.infusion_h))
            taken.append((lo + day_offset, lo + day_offset + _TIME_EPS_H * 10, str(ch)))
            continue
        kept, removed = without_doses(out, lo, hi)
        if not removed:
            raise PkdoseError(f"'{ch}' falls on no dose of the regimen; give a day or week "
                              "with a dose")
        out = kept
        if ch.kind == "late":
            out.append(replace(tr, t0_h=t + ch.delay_h, ii_h=0.0, n=1))
        taken.append((lo, hi, str(ch)))
    out.sort(key=lambda t: t.t0_h)
    return out


def _check_comedication_days(regimen: Regimen) -> None:
    """Refuse a co-medication window after the regimen ends, or two of one co-medication
    that overlap."""
    end = block_starts(regimen)[-1] - regimen.start_h
    if not math.isfinite(end):
        # Ends with a one-off dose: followed for a week, as the verdict window is.
        end = max(tr.last_h for tr in compile_trains(regimen)) - regimen.start_h + HOURS_PER_WEEK
    spans: dict[str, list[Comedication]] = {}
    for c in regimen.comedications:
        if c.start_h >= end:
            raise PkdoseError(f"co-medication '{c}' starts after the regimen ends "
                              f"(day {math.ceil(end / HOURS_PER_DAY - 1e-9):,}); give days "
                              "within it")
        from pkdose.interactions import resolve_comedication

        key = resolve_comedication(c.name)
        for other in spans.get(key, []):
            if c.start_h < other.stop_h and other.start_h < c.stop_h:
                raise PkdoseError(f"co-medications '{other}' and '{c}' overlap; give each "
                                  "day once")
        spans.setdefault(key, []).append(c)


def count_doses(trains: Sequence[DoseTrain], until_h: float) -> float:
    """Number of doses of ``trains`` at or before ``until_h``, counted without listing them."""
    total = 0.0
    for tr in trains:
        if tr.t0_h > until_h:
            continue
        if tr.ii_h == 0:
            total += 1
        else:
            total += min(tr.n, math.floor((until_h - tr.t0_h) / tr.ii_h + _TIME_EPS_H) + 1)
    return total


def check_dose_count(trains: Sequence[DoseTrain], until_h: float) -> None:
    """Refuse before listing more doses up to ``until_h`` than the dose limit allows."""
    _hours(until_h, "a simulation end")
    n = count_doses(trains, until_h)
    if n > MAX_DOSES:
        raise exceeded("doses", f"{n:,.0f} doses up to {format_value(until_h, 'h')}")


def train_doses(trains: Sequence[DoseTrain], until_h: float, inclusive: bool = True
                ) -> Iterator[tuple[float, DoseTrain]]:
    """(time, train) of every dose of ``trains`` up to ``until_h``, train by train.

    For the few places that need doses one by one (display, per-dose occasions, missed
    doses); the solver itself never loops over doses. More doses than the dose limit are
    refused before the first is listed.
    """
    check_dose_count(trains, until_h)
    for tr in trains:
        k = 0
        while k < tr.n:
            t = tr.t0_h + k * tr.ii_h
            if t > until_h or (t == until_h and not inclusive):
                break
            yield t, tr
            if tr.ii_h == 0:
                break
            k += 1


def single_doses(trains: Sequence[DoseTrain], until_h: float) -> list[DoseTrain]:
    """Every dose up to ``until_h`` (inclusive) as a one-dose train, in time order."""
    return sorted((DoseTrain(t, 0.0, 1, tr.amount, tr.unit, tr.route, tr.infusion_h)
                   for t, tr in train_doses(trains, until_h)), key=lambda d: d.t0_h)


def dose_times(regimen: Regimen, until_h: float) -> list[tuple[float, DoseTrain]]:
    """Explicit (time, train) pairs for all doses before ``until_h``; for display and tests."""
    return sorted(train_doses(compile_trains(regimen), until_h, inclusive=False),
                  key=lambda p: p[0])
