"""Measured blood levels and the doses actually taken, read from a table.

The edge of :mod:`pkdose.individual`: a levels CSV (or DataFrame) with clock times or
hours since the first dose, whole-blood levels and recorded doses becomes :class:`Levels`
in hours since the first dose. Dates are read in one format per file (ISO, slashes with
the day/month order taken from the file, or dots); UTC offsets are honoured. Levels below
the limit of quantification (``<0.5``, or ``BLQ`` with an ``lloq_ng_ml`` column) are kept as
censored levels (:mod:`pkdose.censoring`), and levels measured by an immunoassay (an
``assay`` column, or one method for the file) are converted to the LC-MS/MS scale
(:mod:`pkdose.assay`). See ``docs/individual.md``.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pkdose.assay import assay_bias, canonical_method
from pkdose.errors import PkdoseError
from pkdose.files import read_csv
from pkdose.limits import (
    MAX_DAILY_MG,
    MAX_DOSE_MG,
    MAX_LEVELS,
    MAX_TIME_H,
    MAX_TRAINS,
    exceeded,
    format_value,
)
from pkdose.regimen import DoseTrain, Regimen, compile_trains, max_amount_per_day

__all__ = ["Levels", "doses_after", "read_levels"]


@dataclass(frozen=True)
class Levels:
    """Measured levels and the doses actually taken, in hours since the first dose.

    ``doses`` are all the doses (the recorded ones, then the regimen resuming after the
    last of them); ``recorded`` only those read from dose rows. ``conc_ng_ml`` is on the
    LC-MS/MS scale (for a censored level: its limit on that scale); ``measured_ng_ml`` as
    reported, on the level's ``method`` ('' where none was given); ``censored`` marks
    levels below their limit of quantification.
    """

    time_h: np.ndarray
    conc_ng_ml: np.ndarray
    doses: tuple[DoseTrain, ...]
    origin: pd.Timestamp | None = None
    recorded: tuple[DoseTrain, ...] = ()
    censored: np.ndarray | None = None
    measured_ng_ml: np.ndarray | None = None
    method: tuple[str, ...] = ()

    @property
    def below_limit(self) -> np.ndarray:
        """Which levels are censored (below their limit of quantification)."""
        if self.censored is None:
            return np.zeros(self.time_h.size, dtype=bool)
        return np.asarray(self.censored, bool)

    @property
    def as_measured(self) -> np.ndarray:
        """The levels as reported, on their own method's scale."""
        return self.conc_ng_ml if self.measured_ng_ml is None else self.measured_ng_ml

    def methods(self) -> list[str]:
        """The methods of the levels ('' for a level with none given)."""
        return list(self.method) or ["" for _ in self.time_h]

    def clock(self, hours) -> list[str]:
        """Clock times of ``hours`` ('' when the levels were given in hours)."""
        if self.origin is None:
            return ["" for _ in np.atleast_1d(hours)]
        return [(self.origin + pd.Timedelta(hours=float(h))).strftime("%Y-%m-%d %H:%M")
                for h in np.atleast_1d(hours)]

    def hours(self, when: str | float) -> float:
        """Hours since the first dose of a clock time or a number of hours.

        A clock time without a UTC offset is read in the offset of the first dose.
        """
        try:
            return float(when)
        except (TypeError, ValueError):
            pass
        if self.origin is None:
            raise PkdoseError(f"cannot place {when!r}: the levels are in hours since the first "
                              "dose, so give hours too")
        ts = _timestamp(str(when), "time")
        if ts.tzinfo is not None and self.origin.tzinfo is None:
            raise PkdoseError(f"cannot place {when!r}: the levels have no UTC offsets, so give "
                              "the time without one")
        if ts.tzinfo is None and self.origin.tzinfo is not None:
            ts = ts.tz_localize(self.origin.tzinfo)
        return (ts - self.origin) / pd.Timedelta(hours=1)


_CLOCK_HINT = "write a date and clock time such as 2026-03-02 08:30"
_CLOCK = r"(?:[T ]+(?P<hh>\d{1,2}):(?P<mm>\d{2})(?::(?P<ss>\d{2}(?:\.\d+)?))?)?"
_OFFSET = r"\s*(?P<tz>Z|UTC|[+-]\d{2}:?\d{2})?"
#: The date formats pkdose reads: ISO (2026-03-02), and day and month with slashes
#: (order taken from the file) or dots (day first, as where dots are written).
_DATE_FORMATS = {
    "ISO (2026-03-02)": re.compile(
        r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})" + _CLOCK + _OFFSET),
    "slashes (02/03/2026)": re.compile(
        r"(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})" + _CLOCK + _OFFSET),
    "dots (02.03.2026)": re.compile(
        r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})" + _CLOCK + _OFFSET),
}


def _date_format(text: str) -> tuple[str, re.Match] | None:
    for name, pattern in _DATE_FORMATS.items():
        m = pattern.fullmatch(text)
        if m:
            return name, m
    return None


def _offset(tz: str | None) -> pd.Timedelta | None:
    if tz is None:
        return None
    if tz in ("Z", "UTC"):
        return pd.Timedelta(0)
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return sign * pd.Timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def _build(m: re.Match, day_first: bool | None, what: str) -> pd.Timestamp:
    """The timestamp of one matched date (tz-aware with a fixed offset when it has one)."""
    parts = m.groupdict()
    if "a" in parts:
        a, b = int(parts["a"]), int(parts["b"])
        day, month = (a, b) if day_first else (b, a)
    else:
        day, month = int(parts["d"]), int(parts["m"])
    seconds = float(parts["ss"] or 0.0)
    off = _offset(parts["tz"])
    try:
        ts = pd.Timestamp(year=int(parts["y"]), month=month, day=day,
                          hour=int(parts["hh"] or 0), minute=int(parts["mm"] or 0),
                          second=int(seconds), microsecond=round(seconds % 1 * 1e6))
        if off is not None:
            ts = ts.tz_localize(datetime.timezone(off.to_pytimedelta()))
    except (ValueError, OverflowError):  # 31 Feb, hour 25, offset +24:00, year 9999
        raise PkdoseError(f"cannot read {what}: no such date, time or UTC offset, or a year "
                          "outside 1678-2261") from None
    return ts


def _day_first(matches: list[tuple[int, re.Match]], where: str) -> bool:
    """Day/month order of slashed dates: from a field above 12, else refused as ambiguous."""
    day_first = any(int(m["a"]) > 12 for _, m in matches)
    month_first = any(int(m["b"]) > 12 for _, m in matches)
    if day_first and month_first:
        raise PkdoseError(f"{where}: some dates put the day first and others the month; write "
                          "every date as 2026-03-02 (year-month-day)")
    if not (day_first or month_first):
        raise PkdoseError(f"{where}: dates such as {matches[0][1].group(0).split()[0]!r} could "
                          "be day/month or month/day; write them as 2026-03-02 (year-month-day)")
    return day_first


def _timestamp(text: str, what: str, day_first: bool | None = None) -> pd.Timestamp:
    """One date (and clock time); tz-aware with a fixed offset when it gives one.

    A date with slashes takes ``day_first`` (the order of the levels file) when given,
    else must settle its own order (a day above 12).
    """
    text = str(text).strip()
    found = _date_format(text)
    if found is None:
        raise PkdoseError(f"cannot read {what} {text!r}; {_CLOCK_HINT}")
    m = found[1]
    if "a" in m.groupdict() and day_first is None:
        day_first = _day_first([(0, m)], f"{what} {text!r}")
    return _build(m, day_first, f"{what} {text!r}")


def _clock_hours(col: pd.Series, where: str) -> tuple[object, bool, bool | None]:
    """Numbers (hours since the first dose) or clock times: (values, is_clock, day_first).

    Clock times use one format for the whole file, with the day/month order of slashed
    dates taken from the file (a day above 12) and refused when no row settles it; rows
    with a UTC offset are all placed on the first row's clock, and a file mixing rows with
    and without offsets is refused.
    """
    num = pd.to_numeric(col, errors="coerce")
    if num.notna().all():
        return num.to_numpy(float), False, None
    text = col.astype(str).str.strip().tolist()
    matches: list[tuple[int, re.Match]] = []
    first_name = None
    for i, cell in enumerate(text):
        found = _date_format(cell)
        if found is None or found[1]["hh"] is None:
            raise PkdoseError(f"{where} row {i + 1}: cannot read time {cell!r}; {_CLOCK_HINT}, "
                              "or hours since the first dose in every row")
        name, m = found
        if first_name is None:
            first_name = name
        elif name != first_name:
            raise PkdoseError(f"{where} row {i + 1}: time {cell!r} is written with {name}, "
                              f"row 1 with {first_name}; write every time the same way")
        matches.append((i, m))
    aware = [m["tz"] is not None for _, m in matches]
    if any(aware) and not all(aware):
        i = aware.index(not aware[0])
        raise PkdoseError(f"{where} row {i + 1}: some times have a UTC offset and others not; "
                          "give every time with its offset (e.g. 2026-03-02 08:30+01:00) or "
                          "none")
    day_first = _day_first(matches, where) if "a" in matches[0][1].groupdict() else None
    stamps = [_build(m, day_first, f"{where} row {i + 1} time {m.group(0)!r}")
              for i, m in matches]
    if aware[0]:
        # One clock for all rows (offsets may change, e.g. at daylight saving time).
        stamps = [ts.tz_convert(stamps[0].tzinfo) for ts in stamps]
    return pd.Series(stamps), True, day_first


def _same_clock(when: pd.Series, origin: pd.Timestamp, where: str) -> pd.Series:
    """Levels on the first dose's clock; refused when only one of them has UTC offsets."""
    aware = when.dt.tz is not None
    if aware != (origin.tzinfo is not None):
        raise PkdoseError(f"{where}: the times {'have' if aware else 'have no'} UTC offsets "
                          f"but the first dose time {'has none' if aware else 'has one'}; "
                          "give both with offsets or neither")
    return when.dt.tz_convert(origin.tzinfo) if aware else when


def doses_after(trains: Sequence[DoseTrain], t_h: float) -> list[DoseTrain]:
    """The doses of ``trains`` strictly after ``t_h`` (as trains)."""
    out = []
    for tr in trains:
        if tr.t0_h > t_h + 1e-6:
            out.append(tr)
        elif tr.ii_h > 0:
            k = math.floor((t_h - tr.t0_h) / tr.ii_h + 1e-9) + 1
            if tr.n - k > 0:
                out.append(DoseTrain(tr.t0_h + k * tr.ii_h, tr.ii_h, tr.n - k, tr.amount,
                                     tr.unit, tr.route, tr.infusion_h))
    return out


def read_levels(source: str | pd.DataFrame, regimen: Regimen,
                first_dose: str | None = None, assay: str | None = None) -> Levels:
    """Measured levels (and any recorded doses) from a CSV file or DataFrame.

    Columns: ``time`` (a clock time such as ``2026-03-02 08:30``, or hours since the first
    dose), ``conc_ng_ml`` (measured whole-blood level; ``<0.5`` for a level below the
    limit of quantification; empty on dose-only rows) and, optionally, ``dose_mg`` (a dose
    actually taken at that time), ``lloq_ng_ml`` (the limit of quantification of that
    level: a level below it, or written ``BLQ``, is censored) and ``assay`` (the method
    that measured it, e.g. CMIA; default ``assay``, and with neither the level is taken as
    LC-MS/MS-equivalent). Without dose rows the regimen is taken as followed from the
    first dose (``first_dose``, needed with clock times); with dose rows those are the
    doses taken, and the regimen's schedule (anchored at the first dose) resumes after the
    last recorded dose.
    """
    where = "levels table" if isinstance(source, pd.DataFrame) else f"levels file {source}"
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        df = read_csv(source, "levels file", dtype=str, skipinitialspace=True, comment="#")
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in ("time", "conc_ng_ml") if c not in df.columns]
    if missing:
        raise PkdoseError(f"{where} needs column(s) {', '.join(missing)} (and optionally "
                          "dose_mg, lloq_ng_ml, assay); see docs/individual.md")
    unknown = sorted(set(df.columns) - set(_COLUMNS))
    if unknown:
        raise PkdoseError(f"{where}: unknown column(s) {', '.join(unknown)}; use "
                          f"{', '.join(_COLUMNS)}")
    df = df[df["time"].notna() & (df["time"].astype(str).str.strip() != "")].reset_index(
        drop=True)
    conc_text, censored = _censored_cells(df["conc_ng_ml"])
    df["conc_ng_ml"] = conc_text
    values: dict[str, pd.Series] = {}
    for col in ("conc_ng_ml", "dose_mg", "lloq_ng_ml"):
        raw = df[col] if col in df else pd.Series([None] * len(df), dtype=object)
        blank = raw.isna() | (raw.astype(str).str.strip() == "")
        num = pd.to_numeric(raw.where(~blank), errors="coerce")
        bad = num.isna() & ~blank
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise PkdoseError(f"{where} row {i + 1}: {col} {raw.iloc[i]!r} is not a number")
        if (num.dropna() <= 0).any():
            i = int(np.flatnonzero((num > 0).eq(False) & num.notna())[0])
            what = {"conc_ng_ml": "write a level below quantification as <LLOQ (e.g. <0.5) "
                                  "or give its lloq_ng_ml",
                    "dose_mg": "doses must be positive",
                    "lloq_ng_ml": "a limit of quantification must be positive"}[col]
            raise PkdoseError(f"{where} row {i + 1}: {col} = {num.iloc[i]:g}: {what}")
        values[col] = num
    lloq = values["lloq_ng_ml"].to_numpy(float)
    conc = values["conc_ng_ml"].to_numpy(float)
    blq_word = censored & np.isnan(conc)  # BLQ without a number: the limit column says it
    if np.any(blq_word & np.isnan(lloq)):
        i = int(np.flatnonzero(blq_word & np.isnan(lloq))[0])
        raise PkdoseError(f"{where} row {i + 1}: a level below quantification needs its "
                          "limit: write it as <LLOQ (e.g. <0.5) or give lloq_ng_ml")
    # A number below its own limit is below quantification: the likelihood uses the limit
    # (as for a BLQ word); a level written <x keeps x as its limit.
    to_limit = blq_word | (~censored & (conc < lloq))
    censored = censored | to_limit
    conc = np.where(to_limit, lloq, conc)
    values["conc_ng_ml"] = pd.Series(conc)
    if not (values["conc_ng_ml"].notna() | values["dose_mg"].notna()).all():
        i = int(np.flatnonzero(~(values["conc_ng_ml"].notna()
                                 | values["dose_mg"].notna()).to_numpy())[0])
        raise PkdoseError(f"{where} row {i + 1} has neither conc_ng_ml nor dose_mg")
    method = _methods(df, assay, where)
    n_levels, n_doses = (int(values[c].notna().sum()) for c in ("conc_ng_ml", "dose_mg"))
    if n_levels > MAX_LEVELS:
        raise exceeded("levels", f"{where} with {n_levels:,} levels")
    if n_doses > MAX_TRAINS:  # each recorded dose is a dose train of its own
        raise exceeded("trains", f"{where} with {n_doses:,} recorded doses")
    when, is_clock, day_first = _clock_hours(df["time"], where)
    origin = _timestamp(first_dose, "first dose time", day_first) if first_dose else None
    is_dose = values["dose_mg"].notna().to_numpy()
    if is_clock:
        if origin is not None:
            when = _same_clock(when, origin, where)
        else:
            if not is_dose.any():
                raise PkdoseError(f"{where} has clock times but no dose rows; give the time "
                                  "of the first dose (e.g. 2026-03-02 08:00) or add a row "
                                  "with dose_mg", option="first_dose")
            origin = min(when[is_dose])
        if is_dose.any():
            origin = min(origin, min(when[is_dose]))
        hours = ((when - origin) / pd.Timedelta(hours=1)).to_numpy(float)
    else:
        hours = np.asarray(when, float)
    if not np.all(np.isfinite(hours)):
        i = int(np.flatnonzero(~np.isfinite(hours))[0])
        raise PkdoseError(f"{where} row {i + 1}: time must be a finite number of hours")
    if np.any(hours < 0):
        i = int(np.flatnonzero(hours < 0)[0])
        raise PkdoseError(f"{where} row {i + 1} is before the first dose")
    if np.any(hours > MAX_TIME_H):
        i = int(np.flatnonzero(hours > MAX_TIME_H)[0])
        raise exceeded("time_h", f"{where} row {i + 1}: a time {format_value(hours[i], 'h')} "
                       "after the first dose")
    trains = compile_trains(regimen)
    recorded: list[DoseTrain] = []
    if is_dose.any():
        recorded = _recorded_doses(values["dose_mg"].to_numpy(float), hours, is_dose, where)
        trains = tuple(sorted(recorded + doses_after(trains, float(hours[is_dose].max())),
                              key=lambda tr: tr.t0_h))
        # As for a regimen: the doses of any 24 h together, the schedule resuming included.
        most = max_amount_per_day([tr for tr in trains if tr.unit == "mg"])
        if most > MAX_DAILY_MG * (1 + 1e-12):  # sums of floats: a rounding's slack
            raise exceeded("daily_mg", f"{where}: {most:g} mg within 24 h from the recorded "
                           "doses (and the regimen resuming after them)")
    obs = values["conc_ng_ml"].notna().to_numpy()
    order = np.argsort(hours[obs], kind="stable")
    measured = values["conc_ng_ml"].to_numpy(float)[obs][order]
    methods = [method[i] for i in np.flatnonzero(obs)[order]]
    ratio = np.array([assay_bias(regimen.drug, m).ratio if m else 1.0 for m in methods])
    return Levels(hours[obs][order], measured / ratio, tuple(trains), origin,
                  tuple(recorded), censored[obs][order], measured, tuple(methods))


#: The columns of a levels table.
_COLUMNS = ("time", "conc_ng_ml", "dose_mg", "lloq_ng_ml", "assay")
#: Words a laboratory writes for a level below quantification (the limit in its column).
_BLQ_WORDS = ("blq", "bql", "<lloq", "<loq", "below lloq", "nd")


def _censored_cells(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Cells of ``conc_ng_ml`` with ``<x`` or a BLQ word: (the numbers left, censored)."""
    text = col.astype(object).where(col.notna(), "").astype(str).str.strip()
    word = text.str.lower().isin(_BLQ_WORDS)
    less = text.str.match(r"^<\s*[0-9.]") & ~word
    out = text.where(~less, text.str.lstrip("<").str.strip()).where(~word, "")
    return out, (less | word).to_numpy()


def _methods(df: pd.DataFrame, assay: str | None, where: str) -> list[str]:
    """The canonical method of each row ('' where none is given)."""
    default = canonical_method(assay) if assay else ""
    if "assay" not in df:
        return [default] * len(df)
    out = []
    for i, cell in enumerate(df["assay"]):
        text = "" if pd.isna(cell) else str(cell).strip()
        try:
            out.append(canonical_method(text) if text else default)
        except PkdoseError as exc:
            raise PkdoseError(f"{where} row {i + 1}: {exc}") from None
    return out


def _recorded_doses(amounts: np.ndarray, hours: np.ndarray, is_dose: np.ndarray,
                    where: str) -> list[DoseTrain]:
    """The dose rows as single doses, each held to the per-dose limit of a regimen dose."""
    for i in np.flatnonzero(is_dose):
        if not amounts[i] <= MAX_DOSE_MG:  # also inf
            raise exceeded("dose_mg", f"{where} row {i + 1}: a recorded dose of "
                           f"{amounts[i]:g} mg")
    return [DoseTrain(float(hours[i]), 0.0, 1, float(amounts[i]))
            for i in np.flatnonzero(is_dose)]
