"""Input limits: every bound pkdose puts on what a user may ask for, in one table.

Two kinds of limit live here. *Clinical* limits are plausibility bounds: a value beyond
them is far outside anything published for rapamycin or everolimus, so it is almost
certainly a slip of units (mg for µg, minutes for hours) and pkdose says so instead of
predicting from it. *Resource* limits keep a single request from hanging or exhausting
memory; they are set well above what any real regimen needs, and each says how to ask
for less. Every limit is checked before the work it protects is allocated, and a breach
is one :class:`~pkdose.errors.PkdoseError` line naming the limit (see :func:`exceeded`).

The table :data:`LIMITS` is the single source: the module constants below are its values,
``docs/limits.md`` is generated from it (``scripts/gen_limits_doc.py``), and the other
modules import the constants instead of repeating numbers.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from types import MappingProxyType

from pkdose.errors import PkdoseError

__all__ = ["Limit", "LIMITS", "limit", "exceeded", "format_value", "whole_number"]

_HOURS_PER_YEAR = 365.25 * 24.0


@dataclass(frozen=True)
class Limit:
    """One input limit.

    Parameters
    ----------
    name : str
        Identifier, e.g. ``"dose_mg"`` (``limit("dose_mg")``).
    value : float
        The bound, in ``unit``.
    unit : str
        Unit of ``value`` as printed, e.g. ``"mg"``, ``"h"``, ``"rows"``.
    bound : {"max", "min"}
        Whether ``value`` is the largest or the smallest allowed.
    kind : {"clinical", "resource", "numerical"}
        A plausibility bound on the medicine, a bound on time and memory, or the range in
        which the arithmetic stays finite.
    label : str
        What is limited, short, as it reads after "the limit on" in messages.
    applies_to : str
        What is limited, in full (for the documented table).
    why : str
        What the limit protects and why the value was chosen.
    ask_less : str
        How to stay within it; the second half of the error message.
    """

    name: str
    value: float
    unit: str
    bound: str
    kind: str
    label: str
    applies_to: str
    why: str
    ask_less: str

    @property
    def text(self) -> str:
        """The bound with its unit, e.g. ``1000 mg`` or ``15 min``."""
        return format_value(self.value, self.unit)


def format_value(value: float, unit: str) -> str:
    """A number with its unit for messages: whole numbers grouped, hours also in years."""
    if not 1e-6 <= abs(value) < 1e12:
        return f"{value:.3g} {unit}"
    if unit == "h" and value < 1:
        return f"{value * 60:g} min"
    if unit == "h" and value >= _HOURS_PER_YEAR:
        years = value / _HOURS_PER_YEAR
        return f"{value:,.0f} h ({years:.3g} year{'' if years == 1 else 's'})"
    if unit == "bytes":
        mib = value / 2**20
        return f"{mib:g} MiB"
    text = f"{value:,.0f}" if float(value).is_integer() and value >= 10_000 else f"{value:g}"
    return f"{text} {unit}".rstrip()


def _clinical(name, value, unit, bound, label, applies_to, why, ask_less) -> Limit:
    return Limit(name, value, unit, bound, "clinical", label, applies_to, why, ask_less)


def _resource(name, value, unit, label, applies_to, why, ask_less) -> Limit:
    return Limit(name, value, unit, "max", "resource", label, applies_to, why, ask_less)


_TABLE = (
    # --- clinical plausibility bounds -------------------------------------------------
    _clinical(
        "dose_mg", 1000.0, "mg", "max", "one dose",
        "one dose, in mg or after mg/kg and mg/m2 are resolved for the subject",
        "The highest published rapalog doses are 70 mg weekly everolimus (O'Donnell 2008) "
        "and 90 mg weekly sirolimus (Cohen 2012); 1000 mg is an order of magnitude beyond "
        "both, so a larger dose is a slip of units.",
        "check the dose and its unit (mg, not µg; mg/kg doses scale with body weight)",
    ),
    _clinical(
        "daily_mg", 1000.0, "mg", "max", "the amount in any 24 h",
        "the amount given within any 24 h, in mg or after mg/kg and mg/m2 are resolved",
        "The most given in one day in the reference library is a 90 mg weekly dose (Cohen "
        "2012); the bound equals the per-dose bound, so a schedule cannot multiply a "
        "plausible dose into an implausible day ('5 mg every 0.001 h' is 120 g a day).",
        "check the dose and the schedule ('every 8 h' is three doses a day)",
    ),
    _clinical(
        "dose_mg_per_kg", 100.0, "mg/kg", "max", "one mg/kg dose", "one dose in mg/kg",
        "The highest weight-based doses in the reference library are 10 mg/kg "
        "intraperitoneal in mice; 100 mg/kg is an order of magnitude beyond.",
        "check the dose and its unit (mg/kg, not mg)",
    ),
    _clinical(
        "daily_mg_per_kg", 100.0, "mg/kg", "max", "mg/kg in any 24 h",
        "the mg/kg given within any 24 h",
        "As for one mg/kg dose: no study in the library gives more than 10 mg/kg a day.",
        "check the dose and the schedule",
    ),
    _clinical(
        "dose_mg_per_m2", 500.0, "mg/m2", "max", "one mg/m2 dose", "one dose in mg/m2",
        "The per-dose bound in mg over an adult body surface of 2 m2; the reference "
        "library's mg/m2 regimen is everolimus 4.5 mg/m2 daily (TSC).",
        "check the dose and its unit (mg/m2, not mg)",
    ),
    _clinical(
        "daily_mg_per_m2", 500.0, "mg/m2", "max", "mg/m2 in any 24 h",
        "the mg/m2 given within any 24 h",
        "The daily bound in mg over an adult body surface of 2 m2.",
        "check the dose and the schedule",
    ),
    _clinical(
        "diet_ppm", 5000.0, "ppm", "max", "diet concentrations",
        "the drug concentration of a diet (mg per kg of food)",
        "Mouse diets in the reference library and species data run from 4.7 to 378 ppm; "
        "5000 ppm (0.5 % of the food) is an order of magnitude beyond.",
        "check the concentration (ppm is mg of drug per kg of food)",
    ),
    _clinical(
        "min_interval_h", 0.25, "h", "min", "dosing intervals",
        "the interval between repeated doses (text, [[block]] interval_h, event II)",
        "Rapalogs are given every 12 h to every few weeks; 15 min admits the shortest "
        "interval the text grammar documents (q30min) and refuses minutes typed for hours. "
        "It also keeps a year of one train to 35,000 doses.",
        "a shorter interval is usually minutes typed for hours; give a continuous input as "
        "an infusion ('iv over 24 h')",
    ),
    _clinical(
        "min_infusion_h", 1.0 / 60.0, "h", "min", "infusion durations",
        "the duration of one infusion",
        "An infusion shorter than a minute is a bolus, and as its duration goes to zero "
        "its rate (amount / duration) overflows.",
        "give a shorter infusion as an iv bolus ('iv')",
    ),
    # --- resource bounds --------------------------------------------------------------
    _resource(
        "time_h", 10 * _HOURS_PER_YEAR, "h", "times",
        "every time, from time zero: regimen start, block start, length, infusion duration, "
        "event TIME, level time, simulation end and the end of a regimen that stops",
        "Curves, mTOR verdicts and dose lists grow with the span from time zero (a regimen "
        "that stops is judged over its whole length on a 0.05 h grid: 1.75 million points "
        "at 10 years); steady state is reached within weeks, so longer spans add nothing.",
        "a regimen that goes on is summarised by its steady state, so leave out its length "
        "('for ...', 'x N'), or shorten it; count times from the first dose",
    ),
    _resource(
        "period_h", _HOURS_PER_YEAR, "h", "repeating periods",
        "the repeating period: a dosing interval, an on/off cycle, or the common period of "
        "trains that go on together",
        "The steady state is solved over one period on a 0.05 h grid (175,000 points at a "
        "year); trains with near-prime intervals (23.9, 24.1 and 167.9 h) would otherwise "
        "repeat together only after a millennium.",
        "give all but one train a length ('for ...'), or round their intervals so they "
        "share a short common period",
    ),
    _resource(
        "doses", 10_000, "doses", "the number of doses",
        "the doses of one block, of a regimen that stops, of one steady-state cycle, and of "
        "the stretch simulated dose by dose",
        "The Michaelis-Menten absorption model (the sirolimus default) and dose lists "
        "(display, missed doses, per-dose variability) work dose by dose, ~2 ms each; "
        "10,000 doses is 27 years of daily doses.",
        "leave out the length ('for ...', 'x N') to get the steady state, or shorten the "
        "regimen or the simulation",
    ),
    _resource(
        "trains", 10_000, "dose trains", "the number of dose trains",
        "the dose trains of a regimen: one per event-table row, one per dose in one period "
        "of an on/off or weekday pattern, one per part",
        "The solver's cost grows with trains x output times x subjects; 10,000 trains over "
        "10 years take a few seconds.",
        "write repeating doses as one event row with II and ADDL, or shorten the 'on' part "
        "of the cycle",
    ),
    _resource(
        "subjects", 1_000_000, "subjects", "virtual subjects per arm",
        "the subjects of one population arm",
        "A million subjects keep one row of about 40 numbers each (about 0.3 GB per arm) "
        "and take minutes on two cores; Monte Carlo error is far below model error long "
        "before that.",
        "simulate fewer subjects",
    ),
    _resource(
        "schedules", 1_000, "schedules", "schedules of a dose-interval scan",
        "the doses x intervals of one therapeutic-window scan",
        "Each schedule is a population simulation (about 0.1-1 s for 50 subjects), so "
        "1,000 schedules take minutes; the default grid (tablet doses up to 10 mg at 1-14 "
        "days) has about 200.",
        "give fewer doses or intervals",
    ),
    _resource(
        "points", 2_000_000, "points", "output points per curve",
        "the output times of one curve (per subject)",
        "Two million points is 16 MB per column per subject (a year at 16 s steps).",
        "use a larger time step or an earlier simulation end",
    ),
    _resource(
        "curve_values", 250_000_000, "values", "curve values held at once",
        "the concentrations of all curves of one call (subjects x output times x columns)",
        "The curves are returned in memory, 8 bytes a value: 250 million values are 2 GB "
        "(10,000 subjects x a year hourly is 88 million). Summaries per subject need no "
        "curves: the population commands keep one row per subject.",
        "ask for fewer subjects or output times, or summarise each subject (pkdose "
        "population, simulate_course)",
    ),
    Limit(
        "param_min", 1e-4, "", "min", "numerical", "model parameters",
        "every typical value of a model (file or override), in its own unit (L, L/h, 1/h, "
        "mg, ...)",
        "The shipped models' values lie between 0.15 and 964; the solver's exponentials and "
        "Michaelis-Menten integrals were checked finite for any one value from 1e-4 to 1e5, "
        "and overflow beyond (V1 = 1e-300 L).",
        "check the value and its unit",
    ),
    Limit(
        "param_max", 1e5, "", "max", "numerical", "model parameters",
        "every typical value of a model (file or override), in its own unit",
        "As for the smallest value.",
        "check the value and its unit",
    ),
    _resource(
        "text_chars", 10_000, "characters", "regimen texts", "a regimen written as text",
        "The longest real regimen text is a few hundred characters.",
        "save a long regimen as a TOML file or an event table",
    ),
    _resource(
        "toml_bytes", 2**20, "bytes", "TOML file sizes",
        "a TOML file: regimen, reference or model",
        "The largest shipped TOML file is 37 KB; the whole file is read into memory.",
        "a regimen or model file holds one regimen or model; split larger ones",
    ),
    _resource(
        "toml_depth", 32, "levels", "TOML nesting",
        "the nesting of tables and arrays in a TOML file",
        "pkdose's schemas nest 3 levels deep; deeper input would exhaust the parser's "
        "recursion.",
        "flatten the tables (pkdose's own files nest 3 levels at most)",
    ),
    _resource(
        "csv_bytes", 64 * 2**20, "bytes", "CSV file sizes",
        "a CSV file: event table, population covariates, measured levels",
        "The whole file is parsed in memory, several times its size.",
        "split the file, e.g. one file per group of IDs",
    ),
    _resource(
        "csv_rows", 200_000, "rows", "CSV rows", "the data rows of a CSV file",
        "Event tables become one regimen per ID and one train per row, covariate tables "
        "one subject per row; 200,000 rows is 500 subjects with a year of daily rows.",
        "split the file, or write repeating doses as one event row with II and ADDL",
    ),
    _resource(
        "event_ids", 1000, "IDs", "IDs of an event table",
        "the subjects (IDs) of an event table read as regimens",
        "Each ID becomes a regimen that is simulated and summarised on its own (about a "
        "second each when compared or reported); a population is better drawn by pkdose "
        "population.",
        "split the table by ID, or give one ID",
    ),
    _resource(
        "levels", 1000, "levels", "measured levels",
        "the measured levels of one person fitted together",
        "The posterior is evaluated for thousands of candidate parameter sets at every level "
        "time: 20,000 levels took 2.7 GB and 47 s, 1000 take a few seconds; a person's "
        "monitoring history is tens to hundreds of levels.",
        "fit the most recent levels, e.g. the last year",
    ),
    _resource(
        "csv_columns", 1000, "columns", "CSV columns", "the columns of a CSV file",
        "pkdose reads at most a dozen named columns; the rest are parsed and ignored.",
        "keep only the columns pkdose reads",
    ),
)

#: Every limit by name (read-only). Iterate ``LIMITS.values()`` for the documented table.
LIMITS = MappingProxyType({lim.name: lim for lim in _TABLE})


def limit(name: str) -> Limit:
    """The limit called ``name`` (a key of :data:`LIMITS`)."""
    return LIMITS[name]


def exceeded(name: str, found: str, option: str | tuple[str, ...] | None = None
             ) -> PkdoseError:
    """The one-line error for a value beyond limit ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`LIMITS`.
    found : str
        What the input asks for, as a phrase, e.g. ``"a dose of 7000 mg"``.
    option : str or tuple of str, optional
        The library parameter(s) that change it (see :class:`PkdoseError`).

    Returns
    -------
    PkdoseError
        ``"{found} is above the 1000 mg limit on one dose (...); {how to ask for less}"``,
        for the caller to raise.
    """
    lim = LIMITS[name]
    side = "above" if lim.bound == "max" else "below"
    kind = {"clinical": "a plausibility bound", "resource": "to bound time and memory",
            "numerical": "to keep the arithmetic finite"}[lim.kind]
    return PkdoseError(f"{found} is {side} the {lim.text} limit on {lim.label} "
                       f"({kind}); {lim.ask_less}", option=option)


def whole_number(name: str, value: object, low: int = 1) -> int:
    """``value`` as an int when it is a whole number >= ``low`` (numpy's too, not a
    bool), else the one-line error naming ``name``."""
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and value >= low):
        raise PkdoseError(f"{name} must be a whole number >= {low}, got {value!r}")
    return int(value)


# The values, for the modules that check them (names as in the table, upper case).
MAX_DOSE_MG = LIMITS["dose_mg"].value
MAX_DAILY_MG = LIMITS["daily_mg"].value
MAX_DOSE_MG_PER_KG = LIMITS["dose_mg_per_kg"].value
MAX_DAILY_MG_PER_KG = LIMITS["daily_mg_per_kg"].value
MAX_DOSE_MG_PER_M2 = LIMITS["dose_mg_per_m2"].value
MAX_DAILY_MG_PER_M2 = LIMITS["daily_mg_per_m2"].value
MAX_DIET_PPM = LIMITS["diet_ppm"].value
MIN_INTERVAL_H = LIMITS["min_interval_h"].value
MIN_INFUSION_H = LIMITS["min_infusion_h"].value
MAX_TIME_H = LIMITS["time_h"].value
MAX_PERIOD_H = LIMITS["period_h"].value
MAX_DOSES = int(LIMITS["doses"].value)
MAX_SCHEDULES = int(LIMITS["schedules"].value)
MAX_TRAINS = int(LIMITS["trains"].value)
MAX_POINTS = int(LIMITS["points"].value)
MAX_SUBJECTS = int(LIMITS["subjects"].value)
MAX_CURVE_VALUES = int(LIMITS["curve_values"].value)
MAX_TEXT_CHARS = int(LIMITS["text_chars"].value)
MAX_TOML_BYTES = int(LIMITS["toml_bytes"].value)
MAX_TOML_DEPTH = int(LIMITS["toml_depth"].value)
MAX_CSV_BYTES = int(LIMITS["csv_bytes"].value)
MAX_CSV_ROWS = int(LIMITS["csv_rows"].value)
MAX_CSV_COLUMNS = int(LIMITS["csv_columns"].value)
MAX_EVENT_IDS = int(LIMITS["event_ids"].value)
MAX_LEVELS = int(LIMITS["levels"].value)
MIN_PARAM = LIMITS["param_min"].value
MAX_PARAM = LIMITS["param_max"].value

#: The per-dose and per-24-h limits by dose unit (ppm is a concentration, eaten daily).
DOSE_LIMIT_BY_UNIT = MappingProxyType(
    {"mg": "dose_mg", "mg/kg": "dose_mg_per_kg", "mg/m2": "dose_mg_per_m2", "ppm": "diet_ppm"})
DAILY_LIMIT_BY_UNIT = MappingProxyType(
    {"mg": "daily_mg", "mg/kg": "daily_mg_per_kg", "mg/m2": "daily_mg_per_m2"})
