"""Regimens as text: parse prescriptions such as ``sirolimus 6 mg loading then 2 mg daily``.

:func:`parse_regimen` reads a forgiving grammar (synonyms, CDISC frequency terms,
weekdays, on/off cycles, loading doses, routes); :func:`format_regimen` writes the one
canonical string of a :class:`~pkdose.regimen.Regimen`, which parses back to an equal
object. The grammar is documented in ``docs/regimen-format.md``.

A text is the drug name followed by *parts* separated by ``then`` (or ``;``); each part
is one :class:`~pkdose.regimen.Block`: a dose, then in any order a schedule, a length, an
on/off cycle and a route.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import NoReturn

from pkdose.drugs import all_drug_names, resolve_drug
from pkdose.errors import PkdoseError
from pkdose.limits import MAX_TEXT_CHARS, exceeded
from pkdose.regimen import (
    HOURS_PER_DAY,
    HOURS_PER_MONTH,
    HOURS_PER_WEEK,
    WEEKDAYS,
    Block,
    Dose,
    DoseChange,
    Regimen,
)

__all__ = ["parse_regimen", "format_regimen", "format_block", "format_change",
           "parse_change", "times_weekly_days"]

# ---------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------

#: Hours per time unit; minutes are handled separately (division keeps them exact).
_UNIT_HOURS = {"month": HOURS_PER_MONTH, "week": HOURS_PER_WEEK, "day": HOURS_PER_DAY, "h": 1.0}

_TIME_UNITS = {
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    "d": "day", "day": "day", "days": "day",
    "w": "week", "wk": "week", "wks": "week", "week": "week", "weeks": "week",
    "mo": "month", "month": "month", "months": "month",
}  # fmt: skip

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip

#: Mass units: how many of them make one mg (dividing rounds correctly; 500 ug -> 0.5).
_MASS_UNITS = {
    "mg": 1.0, "milligram": 1.0, "milligrams": 1.0,
    "ug": 1000.0, "mcg": 1000.0, "microgram": 1000.0, "micrograms": 1000.0,
}  # fmt: skip

#: One-word frequencies (after lower-casing and dropping abbreviation dots).
_NAMED_FREQUENCIES = {
    **dict.fromkeys(
        ("daily", "qd", "od", "qday", "everyday", "nightly", "qhs", "qam", "qpm", "nocte"),
        HOURS_PER_DAY,
    ),
    "bid": 12.0,
    "tid": 8.0,
    "qid": 6.0,
    "qod": 48.0,
    "eod": 48.0,
    "weekly": HOURS_PER_WEEK,
    "qw": HOURS_PER_WEEK,
    "qwk": HOURS_PER_WEEK,
    "qweek": HOURS_PER_WEEK,
    "fortnightly": 2 * HOURS_PER_WEEK,
    "monthly": HOURS_PER_MONTH,
    "qm": HOURS_PER_MONTH,
    "qmonth": HOURS_PER_MONTH,
}

#: qNh, q12h, q2d, q2w, q30min (CDISC Q4H, Q2D, Q2W, ...); the unit may be a separate word.
_Q_RE = re.compile(
    r"q(\d+(?:\.\d+)?)(h|hr|hrs|hour|hours|min|mins|d|day|days|w|wk|wks|week|weeks)?"
)
_X_RE = re.compile(r"x(\d+)")

_WEEKDAY_WORDS = {
    **dict.fromkeys(("mon", "monday", "mondays"), 0),
    **dict.fromkeys(("tue", "tues", "tuesday", "tuesdays"), 1),
    **dict.fromkeys(("wed", "weds", "wednesday", "wednesdays"), 2),
    **dict.fromkeys(("thu", "thur", "thurs", "thursday", "thursdays"), 3),
    **dict.fromkeys(("fri", "friday", "fridays"), 4),
    **dict.fromkeys(("sat", "saturday", "saturdays"), 5),
    **dict.fromkeys(("sun", "sunday", "sundays"), 6),
}

#: "N times weekly" as days of the week. Doses fall on working days (Mon-Fri), spread as
#: evenly as those allow (largest gap 72 h, over the weekend); 6x adds Saturday, and
#: 1x and 7x are plain intervals ("weekly", "daily").
_TIMES_WEEKLY = {
    2: (0, 3),  # Mon, Thu
    3: (0, 2, 4),  # Mon, Wed, Fri
    4: (0, 1, 3, 4),  # Mon, Tue, Thu, Fri: skipping Wed keeps every gap <= 72 h
    5: (0, 1, 2, 3, 4),
    6: (0, 1, 2, 3, 4, 5),
}

_ORAL_WORDS = ("oral", "orally", "po", "peroral")
_IV_WORDS = ("iv", "intravenous", "intravenously")
_IP_WORDS = ("ip", "intraperitoneal", "intraperitoneally")
_SC_WORDS = ("sc", "sq", "subq", "subcutaneous", "subcutaneously")
_DIET_WORDS = ("diet", "dietary", "food", "chow", "feed")
_START_WORDS = ("starting", "start", "starts", "beginning", "begin")

_SCHEDULE_HINT = "a schedule (daily, twice daily, every 8 h, weekly, Mon/Wed/Fri, once)"

#: Words a typo is compared against, for "did you mean".
_VOCABULARY = (
    *_NAMED_FREQUENCIES,
    *(w for w in _WEEKDAY_WORDS if len(w) > 3),
    *_TIME_UNITS,
    "once", "twice", "times", "every", "other", "loading", "then", "doses", "for",
    "oral", "iv", "infusion", "over", "bolus", "single", "starting", "cycles", "month",
    "ip", "sc", "diet", "ppm", "intraperitoneal", "subcutaneous",
)  # fmt: skip


def times_weekly_days(n: int) -> tuple[int, ...] | float:
    """Days of the week (0 = Mon) for "n times weekly", or an interval in hours.

    Parameters
    ----------
    n : int
        Doses per week, 1 to 7.

    Returns
    -------
    tuple of int or float
        Weekdays for 2-6 doses (see ``docs/regimen-format.md``); the interval 168 h for
        1 and 24 h for 7.
    """
    if n == 1:
        return HOURS_PER_WEEK
    if n == 7:
        return HOURS_PER_DAY
    return _TIMES_WEEKLY[n]


# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    text: str  # normalised: lower case, abbreviation dots dropped, µg -> ug, m² -> m2
    raw: str  # as written, for messages
    word: int  # 1-based word number in the whole text
    num: float | None = None


_TOKEN_RE = re.compile(
    r"(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<word>[^\W\d_][\w.²µμ/-]*)"
    r"|(?P<sep>;)"
    r"|(?P<space>[\s,:()]+)"
    r"|(?P<other>\S)"
)


def _normalise_word(word: str) -> str:
    w = word.lower().replace("µ", "u").replace("μ", "u").replace("²", "2")
    # Dots mark abbreviations (b.i.d., p.o.) except inside numbers (q1.5h).
    return re.sub(r"(?<!\d)\.|\.(?!\d)", "", w)


def _tokenize(text: str, first_word: int) -> list[_Tok]:
    toks: list[_Tok] = []
    word = first_word
    for m in _TOKEN_RE.finditer(text):
        kind, raw = m.lastgroup, m.group()
        if kind == "space":
            continue
        word += 1
        if kind == "num":
            toks.append(_Tok(raw, raw, word, float(raw)))
        elif kind == "word" and "/" in raw:
            # "mg/kg", "Mon/Wed/Fri", "x/week": the slash is a token of its own.
            for i, piece in enumerate(raw.split("/")):
                if i:
                    toks.append(_Tok("/", "/", word))
                if piece:
                    toks.append(_Tok(_normalise_word(piece), piece, word))
        elif kind == "word":
            toks.append(_Tok(_normalise_word(raw), raw, word))
        else:
            toks.append(_Tok(raw.replace("&", "and"), raw, word))
    return toks


# ---------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------

_Schedule = tuple[str, object]  # ("single", None) | ("interval", h) | ("weekdays", (d, ...))


@dataclass
class _Part:
    """What one part of the text says so far (a private, short-lived builder)."""

    at_h: float | None = None
    loading: bool = False
    amount: float = 0.0
    unit: str = "mg"
    schedule: _Schedule | None = None
    cycle: tuple[float, float] | None = None
    n_doses: int | None = None
    duration_h: float | None = None
    cycles: float | None = None
    cycles_tok: _Tok | None = None
    route: str | None = None
    infusion_h: float = 0.0


class _Parser:
    """Cursor over the tokens, with the error reporting every rule shares."""

    def __init__(self, quoted: str, toks: list[_Tok], words_before: int) -> None:
        self.quoted = quoted
        self.toks = toks
        self.pos = 0
        self.words_before = words_before
        self.start_h: float | None = None
        self.fed: bool | None = None

    def peek(self, k: int = 0) -> _Tok | None:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else None

    def text(self, k: int = 0) -> str:
        tok = self.peek(k)
        return tok.text if tok is not None else ""

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def accept(self, *words: str) -> _Tok | None:
        return self.take() if self.text() in words else None

    def at_end(self) -> bool:
        return self.pos >= len(self.toks)

    def is_number(self, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok is not None and (tok.num is not None or tok.text in _NUMBER_WORDS)

    def number(self) -> float:
        tok = self.take()
        return tok.num if tok.num is not None else float(_NUMBER_WORDS[tok.text])

    def fail(self, expected: str, tok: _Tok | None | bool = True, hint: str = "") -> NoReturn:
        """Raise the one-line error; ``tok=True`` means the current token."""
        if tok is True:
            tok = self.peek()
        if tok is None or tok is False:
            last = self.toks[-1].word if self.toks else self.words_before
            where = f"stopped at the end (after word {last})"
        else:
            where = f"stopped at '{tok.raw}' (word {tok.word})"
        raise PkdoseError(f"cannot read '{self.quoted}': {where}; expected {expected}{hint}")

    def semantic(self, err: PkdoseError) -> NoReturn:
        raise PkdoseError(f"cannot read '{self.quoted}': {err}") from None


def _quote(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


def _split_drug(text: str, quoted: str) -> tuple[str, str, int]:
    """The drug at the start of the text, the rest, and the number of words it took."""
    for name in sorted(all_drug_names(), key=len, reverse=True):
        head = text[: len(name)].casefold()
        if head == name and (len(text) == len(name) or text[len(name)] in " ,;:"):
            return all_drug_names()[name], text[len(name) :], len(name.split())
    first = re.split(r"[\s,;:]+", text, maxsplit=1)[0]
    if re.fullmatch(r"[-+]?[\d.]+\w*", first) or _normalise_word(first) in _VOCABULARY:
        raise PkdoseError(
            f"cannot read '{quoted}': stopped at '{first}' (word 1); expected the drug name "
            "first (sirolimus or everolimus), e.g. 'sirolimus 1 mg daily'"
        )
    return resolve_drug(first), "", 1  # raises the unknown-drug message


def _read_time(p: _Parser, expected: str, default_unit: str | None = None) -> float:
    """A number and a time unit, in hours."""
    if not (p.is_number() or p.text() in ("a", "an")):
        p.fail(expected)
    num_tok = p.peek()
    value = 1.0 if p.text() in ("a", "an") else None
    if value is None:
        value = p.number()
    else:
        p.take()
    unit = _TIME_UNITS.get(p.text())
    if unit is None:
        if default_unit is None:
            p.fail(f"a time unit (h, days, weeks, months) after '{num_tok.raw}'")
        unit = default_unit
    else:
        p.take()
    return _to_hours(value, unit)


def _read_time_unit(p: _Parser) -> str:
    """The unit of the time the parser is about to read (for 'N weeks out of M')."""
    return _TIME_UNITS.get(p.text(1), "h")


def _to_hours(value: float, unit: str) -> float:
    return value / 60.0 if unit == "min" else value * _UNIT_HOURS[unit]


def hours_of(value: float, unit: str) -> float | None:
    """``value`` in a time unit as written (``w``, ``days``, ``min``, ...) in hours; None
    for a word that is no time unit. The one time vocabulary of regimens and options."""
    return None if unit not in _TIME_UNITS else _to_hours(value, _TIME_UNITS[unit])


def _weekday_range(word: str) -> list[int] | None:
    if word in _WEEKDAY_WORDS:
        return [_WEEKDAY_WORDS[word]]
    a, sep, b = word.partition("-")
    if sep and a in _WEEKDAY_WORDS and b in _WEEKDAY_WORDS:
        first, last = _WEEKDAY_WORDS[a], _WEEKDAY_WORDS[b]
        return [(first + i) % 7 for i in range((last - first) % 7 + 1)]
    return None


def _weekday_list(p: _Parser) -> _Schedule:
    days: list[int] = []
    while True:
        tok = p.peek()
        found = _weekday_range(tok.text) if tok is not None else None
        if found is None:
            p.fail("a day of the week (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
        p.take()
        for d in found:
            if d in days:
                p.fail(f"each day of the week once ({WEEKDAYS[d]} is listed twice)", tok)
            days.append(d)
        nxt = p.peek()
        if nxt is not None and (nxt.text == "/" or (nxt.text == "and" and p.text(1) != "then")):
            p.take()  # a day must follow
        elif nxt is None or _weekday_range(nxt.text) is None:
            return ("weekdays", tuple(sorted(days)))


def _times_per(p: _Parser, n: float, tok: _Tok) -> _Schedule:
    """After 'twice', 'N times' or 'N x': 'daily' or 'weekly' (or 'a day', 'per week')."""
    if n < 1 or not float(n).is_integer():
        p.fail("a whole number of times, e.g. '3 times weekly'", tok)
    per = p.text()
    if per in ("a", "per", "each", "every", "/", "in") and p.text(1) in ("day", "week"):
        p.take()
        per = p.text()
    if per in ("daily", "day"):
        p.take()
        return ("interval", HOURS_PER_DAY / n)
    if per in ("weekly", "week"):
        if n > 7:
            p.fail("at most 7 times weekly; for more, give an interval such as 'every 12 h'", tok)
        p.take()
        days = times_weekly_days(int(n))
        return ("interval", days) if isinstance(days, float) else ("weekdays", days)
    p.fail(f"'daily' or 'weekly' after '{tok.raw}'")


def _every(p: _Parser) -> _Schedule | tuple[str, tuple[float, float]]:
    """After 'every' / 'each' / 'once every'."""
    word = p.text()
    simple = {"day": HOURS_PER_DAY, "week": HOURS_PER_WEEK, "month": HOURS_PER_MONTH}
    simple.update(dict.fromkeys(("morning", "evening", "night"), HOURS_PER_DAY))
    if word in simple:
        p.take()
        return ("interval", simple[word])
    if word in ("other", "second", "2nd", "alternate"):
        p.take()
        unit = p.text()
        if unit == "day":
            p.take()
            return ("interval", 2 * HOURS_PER_DAY)
        if unit == "week":
            p.take()
            return ("interval", 2 * HOURS_PER_WEEK)
        if unit == "month":
            p.take()
            return ("cycle", (HOURS_PER_MONTH, HOURS_PER_MONTH))
        p.fail(f"'day', 'week' or 'month' after '{p.peek(-1).raw}'")
    if p.is_number():
        return ("interval", _read_time(p, ""))
    if _weekday_range(word):
        return _weekday_list(p)
    p.fail("a time or a weekday after 'every', e.g. 'every 8 h', 'every 2 weeks', 'every Monday'")


def _frequency(p: _Parser) -> _Schedule | tuple[str, tuple[float, float]] | None:
    """A schedule starting at the current token, or None (nothing consumed)."""
    tok = p.peek()
    word = tok.text
    if word in _NAMED_FREQUENCIES:
        p.take()
        return ("interval", _NAMED_FREQUENCIES[word])
    q = _Q_RE.fullmatch(word)
    if q or (word == "q" and p.is_number(1)):
        p.take()
        if q is None:
            return ("interval", _read_time(p, ""))
        value = float(q.group(1))
        if q.group(2):
            return ("interval", _to_hours(value, _TIME_UNITS[q.group(2)]))
        unit = _TIME_UNITS.get(p.text())
        if unit is None:
            p.fail(f"a time unit (h, days, weeks) after '{tok.raw}'")
        p.take()
        return ("interval", _to_hours(value, unit))
    if word == "once":
        p.take()
        if p.text() in ("daily", "weekly", "monthly"):
            return ("interval", _NAMED_FREQUENCIES[p.take().text])
        if p.text() in ("a", "per", "each", "/") and p.text(1) in ("day", "week", "month"):
            p.take()
            return _every(p)
        if p.accept("every"):
            return _every(p)
        return ("single", None)
    if word in ("twice", "thrice"):
        p.take()
        return _times_per(p, 2 if word == "twice" else 3, tok)
    if word == "single":
        p.take()
        p.accept("dose")
        return ("single", None)
    if word in ("every", "each"):
        p.take()
        return _every(p)
    if word in ("a", "per", "/") and p.text(1) in ("day", "week", "month"):
        p.take()
        return _every(p)
    if word == "on" and _weekday_range(p.text(1)):
        p.take()
        return _weekday_list(p)
    if _weekday_range(word):
        return _weekday_list(p)
    return None


def _set(p: _Parser, part: _Part, attr: str, value: object, tok: _Tok, what: str) -> None:
    if getattr(part, attr) is not None:
        p.fail(f"'then' before {what} (this part already has one)", tok)
    setattr(part, attr, value)


def _set_schedule(p: _Parser, part: _Part, found: tuple[str, object], tok: _Tok) -> None:
    if found[0] == "cycle":
        _set(p, part, "cycle", found[1], tok, "a second on/off cycle")
    else:
        _set(p, part, "schedule", found, tok, "a second schedule")


def _set_count(p: _Parser, part: _Part, n: float, tok: _Tok, num_tok: _Tok | None = None) -> None:
    if not float(n).is_integer():
        p.fail("a whole number of doses", num_tok or tok)
    if part.n_doses is not None or part.duration_h is not None or part.cycles is not None:
        p.fail("'then' before a second length (this part already has one)", tok)
    part.n_doses = int(n)


def _set_duration(p: _Parser, part: _Part, hours: float, tok: _Tok) -> None:
    if part.n_doses is not None or part.duration_h is not None or part.cycles is not None:
        p.fail("'then' before a second length (this part already has one)", tok)
    part.duration_h = hours


def _length(p: _Parser, part: _Part) -> bool:
    """'x 56', 'x56', 'x 4 weeks', 'for 56 doses', 'for 6 weeks', 'for 3 cycles'."""
    tok = p.peek()
    x = _X_RE.fullmatch(tok.text)
    if x:
        p.take()
        p.accept("doses", "dose", "times")
        _set_count(p, part, float(x.group(1)), tok)
        return True
    if tok.text == "x":
        p.take()
        if not p.is_number():
            p.fail("a number of doses after 'x', e.g. 'x 56'")
        if p.text(1) in _TIME_UNITS:
            _set_duration(p, part, _read_time(p, ""), tok)
        else:
            num_tok = p.peek()
            _set_count(p, part, p.number(), tok, num_tok)
            p.accept("doses", "dose", "times")
        return True
    if tok.text == "for":
        p.take()
        if not (p.is_number() or p.text() in ("a", "an")):
            p.fail("a number of doses or a time after 'for', e.g. 'for 6 weeks'")
        after = p.text(1)
        if after in ("doses", "dose"):
            num_tok = p.peek()
            _set_count(p, part, p.number(), tok, num_tok)
            p.take()
        elif after in ("cycles", "cycle"):
            if part.n_doses is not None or part.duration_h is not None or part.cycles:
                p.fail("'then' before a second length (this part already has one)", tok)
            part.cycles, part.cycles_tok = p.number(), tok
            p.take()
        elif after in _TIME_UNITS:
            _set_duration(p, part, _read_time(p, ""), tok)
        else:
            p.fail("'doses', 'cycles' or a time unit (days, weeks, months)", p.peek(1))
        return True
    return False


def _number_led(p: _Parser, part: _Part) -> None:
    """'3 times weekly', '56 doses', '5 days on 9 days off', '2 weeks per month'."""
    tok = p.peek()
    after = p.text(1)
    if after in ("times", "time", "x"):
        n = p.number()
        p.take()
        _set_schedule(p, part, _times_per(p, n, tok), tok)
        return
    if after in ("doses", "dose"):
        _set_count(p, part, p.number(), tok)
        p.take()
        return
    if after in _MASS_UNITS:
        p.fail("'then' before another dose")
    if after not in _TIME_UNITS:
        p.fail(
            "'times daily', 'doses' or an on/off cycle such as '5 days on 9 days off' "
            f"after '{tok.raw}'"
        )
    unit = _read_time_unit(p)
    on_h = _read_time(p, "")
    word = p.text()
    if word == "on":
        p.take()
        off_h = _read_time(p, "the off period, e.g. '9 days off'", default_unit=unit)
        if not p.accept("off"):
            p.fail("'off' after the off period, e.g. '9 days off'")
        _set(p, part, "cycle", (on_h, off_h), tok, "a second on/off cycle")
    elif word in ("per", "a", "each", "every", "/", "in") and p.text(1) == "month":
        p.take()
        p.take()
        _set(p, part, "cycle", (on_h, HOURS_PER_MONTH - on_h), tok, "a second on/off cycle")
    elif word == "out" and p.text(1) == "of":
        p.take()
        p.take()
        total = _read_time(p, "the cycle length, e.g. '3 weeks out of 4'", default_unit=unit)
        _set(p, part, "cycle", (on_h, total - on_h), tok, "a second on/off cycle")
    else:
        p.fail(f"'on' (as in '5 days on 9 days off'), 'per month' or 'out of' after '{tok.raw}'")


def _route(p: _Parser, part: _Part) -> bool:
    """'oral', 'po', 'by mouth', 'iv', 'iv bolus', 'iv over 2 h', 'infusion over 30 min',
    'ip', 'sc', 'diet' ('in the diet', 'in food')."""
    tok = p.peek()
    word = tok.text
    if word in _ORAL_WORDS or (word == "by" and p.text(1) == "mouth"):
        p.take()
        if word == "by":
            p.take()
        route, hours = "oral", 0.0
    elif word in (*_IV_WORDS, "infusion", "infused", "bolus"):
        p.take()
        p.accept("bolus", "push", "injection")
        infusion = word in ("infusion", "infused") or p.text() in ("infusion", "infused", "over")
        if infusion:
            p.accept("infusion", "infused")
            if not p.accept("over"):
                p.fail("the infusion duration, e.g. 'over 2 h'")
            route, hours = "infusion", _read_time(p, "the infusion duration, e.g. 'over 2 h'")
        else:
            route, hours = "iv", 0.0
    elif word in (*_IP_WORDS, *_SC_WORDS):
        p.take()
        p.accept("injection", "injected", "bolus")
        route, hours = ("ip" if word in _IP_WORDS else "sc"), 0.0
    elif word in _DIET_WORDS or (
        word == "in" and (p.text(1) in _DIET_WORDS or (p.text(1) == "the"
                                                       and p.text(2) in _DIET_WORDS))
    ):
        while p.text() in ("in", "the"):
            p.take()
        p.take()
        route, hours = "diet", 0.0
    else:
        return False
    _set(p, part, "route", route, tok, "a second route")
    part.infusion_h = hours
    return True


def _expected_after(part: _Part) -> str:
    options = []
    if part.schedule is None:
        options.append(_SCHEDULE_HINT)
    if part.n_doses is None and part.duration_h is None and part.cycles is None:
        options.append("a length ('x 56', 'for 6 weeks')")
    if part.cycle is None:
        options.append("an on/off cycle ('5 days on 9 days off')")
    if part.route is None:
        options.append("a route (oral, iv, ip, sc, diet)")
    options.append("'then'")
    return ", ".join(options[:-1]) + " or " + options[-1]


#: Words saying the doses are taken with or without food (pkdose.conditions): whole
#: phrases, longest first, and whether they mean fed.
_FOOD_PHRASES = ((("with", "a", "meal"), True), (("with", "meals"), True),
                 (("with", "food"), True), (("without", "food"), False),
                 (("fed",), True), (("fasted",), False), (("fasting",), False))


def _food(p: _Parser) -> bool:
    """'with food', 'fed', 'with a meal' / 'fasted', 'without food': for the whole regimen."""
    for words, fed in _FOOD_PHRASES:
        if all(p.text(k) == w for k, w in enumerate(words)):
            tok = p.peek()
            for _ in words:
                p.take()
            if p.fed is not None and p.fed != fed:
                p.fail("one food state for the whole regimen (fed or fasted)", tok)
            p.fed = fed
            return True
    return False


def _modifier(p: _Parser, part: _Part) -> bool:
    tok = p.peek()
    word = tok.text
    if _food(p):
        return True
    if word in ("loading", "load"):
        p.take()
        p.accept("dose")
        part.loading = True
        return True
    if word in _START_WORDS:
        p.take()
        p.accept("at", "from")
        hours = _read_time(p, "a start time, e.g. 'starting at 8 h'")
        if p.start_h is not None:
            p.fail("one start time for the whole regimen", tok)
        p.start_h = hours
        return True
    if _route(p, part) or _length(p, part):
        return True
    if p.is_number():
        _number_led(p, part)
        return True
    found = _frequency(p)
    if found is not None:
        _set_schedule(p, part, found, tok)
        return True
    return False


def _at_separator(p: _Parser) -> bool:
    word = p.text()
    return (
        word in ("then", ";")
        or (word == "followed" and p.text(1) == "by")
        or (word == "and" and p.text(1) == "then")
    )


def _skip_separator(p: _Parser) -> None:
    while _at_separator(p):
        if p.take().text in ("followed", "and"):
            p.take()


def _dose(p: _Parser, part: _Part) -> None:
    tok = p.peek()
    if tok is None or tok.num is None:
        hint = ""
        if tok is not None and " ".join(tok.text.split()) in all_drug_names():
            hint = " (give the drug name once, at the start)"
        p.fail("a dose amount, e.g. '2 mg'", hint=hint)
    amount = p.take().num
    unit_tok = p.peek()
    if unit_tok is not None and unit_tok.text == "ppm":
        p.take()
        part.amount, part.unit = amount, "ppm"
        return
    if unit_tok is None or unit_tok.text not in _MASS_UNITS:
        p.fail("a dose unit (mg, mg/kg, mg/m2, or ppm in the diet)")
    p.take()
    per_mg = _MASS_UNITS[unit_tok.text]
    unit = "mg"
    while p.text() == "/":
        per = p.peek(1)
        if per is not None and per.text == "kg" and unit == "mg":
            unit = "mg/kg"
        elif per is not None and per.text in ("m2", "msq") and unit == "mg":
            unit = "mg/m2"
        elif per is not None and per.text in ("day", "d", "week", "wk", "w"):
            interval = HOURS_PER_DAY if per.text in ("day", "d") else HOURS_PER_WEEK
            _set_schedule(p, part, ("interval", interval), per)
        else:
            p.take()
            p.fail("'kg' or 'm2' after '/' (mg/kg, mg/m2)")
        p.take()
        p.take()
    part.amount = amount / per_mg if per_mg != 1.0 else amount
    part.unit = unit


def _part(p: _Parser) -> _Part:
    part = _Part()
    if p.accept("at"):
        part.at_h = _read_time(p, "a start time after 'at', e.g. 'at 2 weeks'")
    if p.accept("loading", "load"):
        p.accept("dose")
        p.accept("of")
        part.loading = True
    _dose(p, part)
    while not p.at_end() and not _at_separator(p):
        if not _modifier(p, part):
            tok = p.peek()
            close = difflib.get_close_matches(tok.text, _VOCABULARY, n=1, cutoff=0.75)
            hint = f"; did you mean '{close[0]}'?" if close and tok.num is None else ""
            p.fail(_expected_after(part), hint=hint)
    if part.schedule is None and part.route == "diet" and not part.loading:
        # Food is eaten every day: a diet needs no schedule, only breaks and lengths.
        part.schedule = ("interval", HOURS_PER_DAY)
    if part.schedule is None:
        if not part.loading:
            p.fail(f"{_SCHEDULE_HINT} or 'loading'")
        part.schedule = ("single", None)
    return part


def _block(p: _Parser, part: _Part) -> Block:
    kind, value = part.schedule
    duration_h = part.duration_h
    on_h, off_h = part.cycle if part.cycle is not None else (None, None)
    if part.cycles is not None:
        if part.cycle is None:
            p.fail("an on/off cycle to count, e.g. '5 days on 9 days off'", part.cycles_tok)
        duration_h = part.cycles * (on_h + off_h)
    try:
        dose = Dose(part.amount, part.unit, part.route or "oral", part.infusion_h)
        return Block(
            dose,
            interval_h=value if kind == "interval" else None,
            weekdays=value if kind == "weekdays" else (),
            on_h=on_h,
            off_h=off_h,
            n_doses=part.n_doses,
            duration_h=duration_h,
            at_h=part.at_h,
            label="loading" if part.loading else "",
        )
    except PkdoseError as err:
        p.semantic(err)


def parse_regimen(text: str) -> Regimen:
    """Read a regimen written as text.

    Parameters
    ----------
    text : str
        E.g. ``"sirolimus 6 mg loading then 2 mg daily"``,
        ``"everolimus 5 mg weekly for 4 weeks then 10 mg weekly"``,
        ``"rapamycin 2 mg daily, 5 days on 9 days off"``. Case, extra spaces and commas
        do not matter. The grammar is in ``docs/regimen-format.md``.

    Returns
    -------
    Regimen

    Raises
    ------
    PkdoseError
        With one line naming the word the parser stopped at and what it expected there,
        e.g. ``cannot read 'sirolimus 2 mgs daily': stopped at 'mgs' (word 3); expected a
        dose unit (mg, mg/kg, mg/m2, or ppm in the diet)``; or the reason a dose or schedule
        is invalid.
    """
    if not isinstance(text, str) or not text.strip():
        raise PkdoseError("empty regimen; write e.g. 'sirolimus 1 mg daily'")
    if len(text) > MAX_TEXT_CHARS:
        raise exceeded("text_chars", f"a regimen text of {len(text):,} characters")
    one_line = " ".join(text.replace("×", "x").split())
    one_line = re.sub(r"\s*/\s*", "/", one_line)
    quoted = _quote(" ".join(text.split()))
    one_line, comeds, changes = _split_events(one_line, quoted)
    drug, rest, n_words = _split_drug(one_line, quoted)
    p = _Parser(quoted, _tokenize(rest, n_words), n_words)
    for tok in p.toks:
        if tok.num is not None and not math.isfinite(tok.num):
            p.fail("a number below 1e308", tok)
    parts = [_part(p)]
    while not p.at_end():
        _skip_separator(p)
        parts.append(_part(p))
    blocks = tuple(_block(p, part) for part in parts)
    try:
        changes = tuple(parse_change(c, blocks[0].dose.route) for c in changes)
        return Regimen(drug, blocks, start_h=p.start_h if p.start_h is not None else 0.0,
                       fed=p.fed, comedications=comeds, changes=changes)
    except PkdoseError as err:
        p.semantic(err)


# ---------------------------------------------------------------------------------------
# Dose changes and co-medications after the schedule
# ---------------------------------------------------------------------------------------

_CHANGE_START = re.compile(
    r"(?:^|,|\s)\s*(?=(?:with|missed|miss|skip|skipped|hold|held|holding|extra|dose\s+\d+\s+"
    r"(?:taken\s+)?[\d.]+\s*\w*\s+late)\b)", re.IGNORECASE)
_CHANGE_FORMS = (
    ("missed", re.compile(r"^(?:missed|miss|skip|skipped)\s+(?:the\s+)?(?:dose\s+(?P<n>\d+)|"
                          r"(?P<unit>day|week)\s+(?P<a>\d+))$")),
    ("late", re.compile(r"^dose\s+(?P<n>\d+)\s+(?:taken\s+)?(?P<delay>\d+(?:\.\d+)?)\s*"
                        r"(?P<tu>h|hr|hrs|hour|hours|min|mins|minutes?|days?)\s+late$")),
    ("hold", re.compile(r"^(?:hold|held|holding)\s+(?:on\s+)?(?P<unit>day|week)s?\s+"
                        r"(?P<a>\d+)(?:\s*(?:-|to)\s*(?P<b>\d+))?$")),
    ("extra", re.compile(r"^(?:an\s+)?extra\s+(?:dose\s+of\s+)?(?P<amt>\d+(?:\.\d+)?)\s*"
                         r"(?P<du>mg/kg|mg/m2|mg)\s+on\s+day\s+(?P<a>\d+)$")),
)
#: Words after 'with' that name food, not a co-medication (read by the schedule grammar).
_FOOD_WITH = ("food", "a", "meal", "meals", "breakfast", "fat", "high-fat", "milk")
_CHANGE_HINT = ("dose changes read 'missed dose 3', 'missed week 3', 'dose 2 taken 12 h late', "
                "'hold days 10-14' or 'extra 2 mg on day 5' (docs/regimen-format.md)")


def parse_change(text: str, route: str = "oral") -> DoseChange:
    """One dose change written as text: ``missed dose 3``, ``missed week 3``, ``dose 2
    taken 12 h late``, ``hold days 10-14``, ``extra 2 mg on day 5`` (an extra dose by
    ``route``, the regimen's).

    Raises
    ------
    PkdoseError
        Text that is none of these, naming the forms.
    """
    low = " ".join(str(text).lower().split())
    for kind, form in _CHANGE_FORMS:
        m = form.match(low)
        if not m:
            continue
        g = m.groupdict()
        out: dict = {"kind": kind}
        if g.get("n"):
            out["dose_number"] = int(g["n"])
        if g.get("unit"):
            out["unit"] = g["unit"]
        if g.get("a"):
            out["first"] = int(g["a"])
        if kind == "hold":
            out["last"] = int(g["b"]) if g.get("b") else out["first"]
        if kind == "late":
            unit = _TIME_UNITS[g["tu"]]
            out["delay_h"] = _to_hours(float(g["delay"]), unit)
        if kind == "extra":
            out["dose"] = Dose(float(g["amt"]), g["du"], route)
        return DoseChange(**out)
    raise PkdoseError(f"cannot read the dose change {text!r}; {_CHANGE_HINT}")


def _split_events(text: str, quoted: str) -> tuple[str, list, list[str]]:
    """The schedule, and the co-medications and dose changes written after it.

    Clauses are peeled from the end: ``with <co-medication>[ and ...]`` and the dose changes,
    after a comma or a space. A ``with`` clause that names no known co-medication is left
    to the schedule grammar (``with food`` is a food word).
    """
    from pkdose.comedication import parse_comedication

    comeds: list = []
    changes: list[str] = []
    rest = text
    while True:
        starts = [m.end() for m in _CHANGE_START.finditer(rest)]
        starts = [s for s in starts if s > 0]
        if not starts:
            break
        pos = starts[-1]
        clause = rest[pos:].strip().rstrip(",").strip()
        if clause.lower() == "with" or clause.lower().startswith("with "):
            names = re.split(r"\s+and\s+", clause[4:].strip(), flags=re.IGNORECASE)
            if not names[0]:
                raise PkdoseError(f"cannot read '{quoted}': name a co-medication after 'with', "
                                  "e.g. 'with ciclosporin' or 'with ketoconazole day 8-14'")
            try:
                comeds[:0] = [parse_comedication(n) for n in names]
            except PkdoseError as err:
                # Food words after 'with' belong to the schedule grammar.
                if names[0].split()[0].lower().rstrip(",;") in _FOOD_WITH:
                    break
                raise PkdoseError(f"cannot read '{quoted}': {err}") from None
        else:
            try:
                parse_change(clause)
            except PkdoseError as err:
                raise PkdoseError(f"cannot read '{quoted}': {err}") from None
            changes.insert(0, clause)
        rest = rest[:pos].rstrip().rstrip(",").rstrip()
    return rest, comeds, changes


# ---------------------------------------------------------------------------------------
# Canonical form
# ---------------------------------------------------------------------------------------

_NAMED_INTERVALS = {
    HOURS_PER_DAY: "daily",
    12.0: "twice daily",
    8.0: "three times daily",
    6.0: "four times daily",
    HOURS_PER_WEEK: "weekly",
    HOURS_PER_MONTH: "monthly",
}


def _fmt_num(x: float) -> str:
    """Shortest decimal that reads back as the same float, never in exponent form."""
    s = repr(float(x))
    if "e" in s or "E" in s:
        s = format(Decimal(s), "f")
    return s[:-2] if s.endswith(".0") else s


def _fmt_time(hours: float, units: tuple[str, ...] = ("month", "week", "day")) -> str:
    """A time in the largest of ``units`` that holds it as a whole number, else h (or min)."""
    if hours < 0:
        return "-" + _fmt_time(-hours, units)
    if hours == 0:
        return "0 h"
    for unit in units:
        n = hours / _UNIT_HOURS[unit]
        if n >= 1 and n.is_integer():
            s = _fmt_num(n)
            # Only when reading it back gives exactly the same float.
            if _to_hours(float(s), unit) == hours:
                return f"{s} {unit}" if s == "1" else f"{s} {unit}s"
    if hours < 1:
        m = hours * 60.0
        if m.is_integer():
            s = _fmt_num(m)
            if _to_hours(float(s), "min") == hours:
                return f"{s} min"
    return f"{_fmt_num(hours)} h"


def _fmt_schedule(block: Block) -> str:
    if block.weekdays:
        return "/".join(WEEKDAYS[d] for d in block.weekdays)
    if block.interval_h is None:
        return "once"
    if block.interval_h in _NAMED_INTERVALS:
        return _NAMED_INTERVALS[block.interval_h]
    return "every " + _fmt_time(block.interval_h, ("month", "week"))


def _fmt_cycle(on_h: float, off_h: float) -> str:
    if on_h == off_h == HOURS_PER_MONTH:
        return "every other month"
    if HOURS_PER_MONTH - on_h == off_h:
        return f"{_fmt_time(on_h)} per month"
    return f"{_fmt_time(on_h)} on {_fmt_time(off_h)} off"


def format_block(block: Block) -> str:
    """Canonical text of one block, e.g. ``2 mg daily, 5 days on 9 days off for 12 weeks``.

    Parameters
    ----------
    block : Block

    Returns
    -------
    str
        ``[at T] AMOUNT UNIT SCHEDULE[, CYCLE][ x N | for T][ ROUTE]``.
    """
    d = block.dose
    schedule = _fmt_schedule(block)
    if d.route == "diet":
        # A diet is eaten daily unless said otherwise, so "daily" is left unsaid.
        schedule = "diet" if schedule == "daily" else f"diet {schedule}"
    text = f"{_fmt_num(d.amount)} {d.unit} {schedule}"
    if block.at_h is not None:
        text = f"at {_fmt_time(block.at_h)} {text}"
    if block.on_h is not None:
        text += ", " + _fmt_cycle(block.on_h, block.off_h)
    if block.n_doses is not None:
        text += f" x {int(block.n_doses)}"
    elif block.duration_h is not None:
        text += f" for {_fmt_time(block.duration_h)}"
    if d.route == "iv":
        text += " iv"
    elif d.route == "infusion":
        text += f" iv over {_fmt_time(d.infusion_h)}"
    elif d.route in ("ip", "sc"):
        text += f" {d.route}"
    return text


def format_regimen(reg: Regimen) -> str:
    """The canonical text of a regimen; :func:`parse_regimen` reads it back to an equal one.

    Parameters
    ----------
    reg : Regimen

    Returns
    -------
    str
        E.g. ``sirolimus 6 mg loading then 2 mg daily``. Blocks are joined by ``then``, or by
        ``;`` before an anchored block (``at T``); a non-zero start time is appended as
        ``, starting at T``. Numbers are the shortest decimals that read back exactly;
        times are in the largest unit (months, weeks, days, h) that holds them as a
        whole number. See ``docs/regimen-format.md``.
    """
    text = reg.drug
    for i, block in enumerate(reg.blocks):
        part = format_block(block)
        if i == 0:
            nxt = reg.blocks[1] if len(reg.blocks) > 1 else None
            if nxt is not None and nxt.at_h is None and part.endswith(" once"):
                # A one-off dose before a maintenance schedule reads as clinicians write it.
                part = part[: -len(" once")] + " loading"
            text += " " + part
        elif block.at_h is not None:
            text += "; " + part
        else:
            text += " then " + part
    if reg.fed is not None:
        text += " with food" if reg.fed else " fasted"
    if reg.start_h != 0:
        text += f", starting at {_fmt_time(reg.start_h)}"
    for change in reg.changes:
        text += f", {format_change(change)}"
    if reg.comedications:
        text += " with " + " and ".join(str(c) for c in reg.comedications)
    return text


def format_change(change: DoseChange) -> str:
    """Canonical text of a dose change, e.g. ``missed week 3``, ``dose 2 taken 12 h late``,
    ``hold days 10-14``, ``extra 2 mg on day 5``; :func:`parse_change` reads it back."""
    if change.kind == "missed":
        return (f"missed dose {change.dose_number}" if change.dose_number is not None
                else f"missed {change.unit} {change.first}")
    if change.kind == "late":
        return f"dose {change.dose_number} taken {_fmt_time(change.delay_h, ())} late"
    if change.kind == "hold":
        if change.last == change.first:
            return f"hold {change.unit} {change.first}"
        return f"hold {change.unit}s {change.first}-{change.last}"
    d = change.dose
    return f"extra {_fmt_num(d.amount)} {d.unit} on day {change.first}"
