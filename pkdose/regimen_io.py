"""Regimens in files: TOML regimen files and NONMEM-style dose event tables.

TOML (``read_regimen_toml`` / ``write_regimen_toml``) is pkdose's own format for saved
and reference regimens: a drug plus either a ``regimen = "..."`` text or explicit
``[[block]]`` tables, and any metadata tables (``[source]``, ...) alongside.

Event tables (``regimen_to_events`` / ``events_to_regimen``, CSV via
``read_events_csv`` / ``write_events_csv``) are the NONMEM / mrgsolve dosing records
ID, TIME, AMT, EVID, CMT, II, ADDL, RATE, SS: one row per dose train of
:func:`~pkdose.regimen.compile_trains`. Both directions are lossless. Conventions (an
endless train is ``ADDL = -1``; SS rows are rejected) are in ``docs/regimen-format.md``.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from pkdose.comedication import Comedication
from pkdose.drugs import all_drug_names, resolve_drug
from pkdose.errors import PkdoseError
from pkdose.files import parse_toml, read_csv, read_text
from pkdose.limits import MAX_EVENT_IDS, MAX_TRAINS, exceeded
from pkdose.regimen import (
    AMOUNT_UNITS,
    ANIMAL_ROUTES,
    HOURS_PER_DAY,
    ROUTES,
    WEEKDAYS,
    Block,
    Dose,
    DoseTrain,
    Regimen,
    block_length_h,
    compile_trains,
)
from pkdose.regimen_text import format_change, format_regimen, parse_change, parse_regimen

__all__ = [
    "RegimenFile",
    "parse_regimen_toml",
    "read_regimen_file",
    "read_regimen_toml",
    "regimen_to_toml",
    "write_regimen_toml",
    "EVENT_COLUMNS",
    "regimen_to_events",
    "events_to_regimen",
    "events_to_regimens",
    "read_events_csv",
    "write_events_csv",
]

# ---------------------------------------------------------------------------------------
# TOML
# ---------------------------------------------------------------------------------------

_TOP_KEYS = ("drug", "name", "description", "start_h", "regimen", "block", "comedication",
             "changes")
_COMEDICATION_KEYS = ("name", "first_day", "last_day")
_BLOCK_KEYS = (
    "amount", "unit", "route", "infusion_h", "interval_h", "weekdays",
    "on_h", "off_h", "n_doses", "duration_h", "at_h", "label",
)  # fmt: skip
_BLOCK_FLOATS = ("infusion_h", "interval_h", "on_h", "off_h", "duration_h", "at_h")
_WEEKDAY_NAMES = {
    **{d.lower(): i for i, d in enumerate(WEEKDAYS)},
    **{
        d.lower(): i
        for i, d in enumerate(
            ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        )
    },
}


@dataclass(frozen=True)
class RegimenFile:
    """A regimen file: the regimen plus what else the file says.

    Parameters
    ----------
    regimen : Regimen
    description : str
        Free text from the ``description`` key.
    metadata : Mapping
        Every other table in the file (e.g. ``source`` with a citation), as read.
    source : str
        Name used in error messages, usually the file path.
    """

    regimen: Regimen
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = "regimen TOML"

    def table(self, name: str) -> Mapping[str, Any]:
        """The one metadata table ``name`` (``[name]``), empty when the file has none.

        Raises
        ------
        PkdoseError
            When the file gives ``[[name]]``, an array of tables, where one is meant.
        """
        value = self.metadata.get(name, {})
        if not isinstance(value, Mapping):
            raise PkdoseError(f"{self.source}: '{name}' must be one [{name}] table, not an "
                              f"array of tables ([[{name}]])")
        return value


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value: object) -> str:
    return {
        str: "a string", bool: "a boolean", int: "an integer", float: "a number",
        list: "an array", dict: "a table",
    }.get(type(value), type(value).__name__)  # fmt: skip


def _unknown_key(source: str, key: str, allowed: tuple[str, ...], extra: str = "") -> PkdoseError:
    name = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return PkdoseError(
        f"{source}: unknown key '{key}'{hint}; expected one of {', '.join(allowed)}{extra}"
    )


def _number(source: str, key: str, value: object) -> float:
    if not _is_number(value):
        raise PkdoseError(
            f"{source}: key '{key}' must be a number, got {_type_name(value)} ({value!r})"
        )
    return float(value)


def _string(source: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise PkdoseError(
            f"{source}: key '{key}' must be a string, got {_type_name(value)} ({value!r})"
        )
    return value


def _weekdays(source: str, key: str, value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PkdoseError(
            f'{source}: key \'{key}\' must be an array of day names, e.g. ["Mon", "Thu"]'
        )
    days = []
    for name in value:
        day = _WEEKDAY_NAMES.get(name.strip().lower())
        if day is None:
            raise PkdoseError(
                f"{source}: key '{key}' has {name!r}; use day names {', '.join(WEEKDAYS)}"
            )
        if day in days:
            raise PkdoseError(f"{source}: key '{key}' lists {WEEKDAYS[day]} twice")
        days.append(day)
    return tuple(sorted(days))


def _block_from_table(source: str, i: int, table: object) -> Block:
    where = f"block[{i}]"
    if not isinstance(table, dict):
        raise PkdoseError(f"{source}: '{where}' must be a table ([[block]])")
    for key in table:
        if key not in _BLOCK_KEYS:
            raise _unknown_key(source, f"{where}.{key}", _BLOCK_KEYS)
    if "amount" not in table:
        raise PkdoseError(f"{source}: missing key '{where}.amount' (the dose, e.g. amount = 2.0)")
    kw: dict[str, Any] = {}
    for key in _BLOCK_FLOATS:
        if key in table and key != "infusion_h":
            kw[key] = _number(source, f"{where}.{key}", table[key])
    if "n_doses" in table:
        n = table["n_doses"]
        if not isinstance(n, int) or isinstance(n, bool):
            raise PkdoseError(
                f"{source}: key '{where}.n_doses' must be a whole number, "
                f"got {_type_name(n)} ({n!r})"
            )
        kw["n_doses"] = n
    if "weekdays" in table:
        kw["weekdays"] = _weekdays(source, f"{where}.weekdays", table["weekdays"])
    label = _string(source, f"{where}.label", table["label"]) if "label" in table else ""
    try:
        dose = Dose(
            _number(source, f"{where}.amount", table["amount"]),
            _string(source, f"{where}.unit", table.get("unit", "mg")),
            _string(source, f"{where}.route", table.get("route", "oral")),
            _number(source, f"{where}.infusion_h", table.get("infusion_h", 0.0)),
        )
        return Block(dose, label=label, **kw)
    except PkdoseError as err:
        if str(err).startswith(source):
            raise
        raise PkdoseError(f"{source}: {where}: {err}") from None


def _starts_with_drug(text: str) -> bool:
    low = " ".join(text.split()).casefold()
    return any(
        low.startswith(name) and (len(low) == len(name) or low[len(name)] in " ,;:")
        for name in all_drug_names()
    )


def parse_regimen_toml(text: str, source: str = "regimen TOML") -> RegimenFile:
    """Read a regimen file's contents.

    Parameters
    ----------
    text : str
        TOML text (schema in ``docs/regimen-format.md``).
    source : str
        Name used in error messages, usually the file path.

    Returns
    -------
    RegimenFile

    Raises
    ------
    PkdoseError
        Naming ``source`` and the offending key: invalid TOML, missing or unknown key,
        wrong type, or an invalid regimen.
    """
    data = parse_toml(text, source)
    metadata: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TOP_KEYS:
            continue
        is_tables = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        if isinstance(value, dict) or is_tables:
            metadata[key] = value  # [source], [[reference]], ...: kept for the caller
        else:
            raise _unknown_key(source, key, _TOP_KEYS, " or a table such as [source]")
    if "drug" not in data:
        raise PkdoseError(f"{source}: missing key 'drug' (e.g. drug = \"sirolimus\")")
    try:
        drug = resolve_drug(_string(source, "drug", data["drug"]))
    except PkdoseError as err:
        if str(err).startswith(source):
            raise
        raise PkdoseError(f"{source}: key 'drug': {err}") from None
    name = _string(source, "name", data.get("name", ""))
    description = _string(source, "description", data.get("description", ""))
    has_text, has_blocks = "regimen" in data, "block" in data
    if has_text == has_blocks:
        raise PkdoseError(
            f'{source}: give either regimen = "..." (text) or [[block]] tables'
            + (", not both" if has_text else "; found neither")
        )
    start_h = _number(source, "start_h", data["start_h"]) if "start_h" in data else None
    if has_text:
        regimen_text = _string(source, "regimen", data["regimen"])
        if not _starts_with_drug(regimen_text):
            regimen_text = f"{drug} {regimen_text}"
        try:
            reg = parse_regimen(regimen_text)
        except PkdoseError as err:
            raise PkdoseError(f"{source}: key 'regimen': {err}") from None
        if reg.drug != drug:
            raise PkdoseError(
                f"{source}: key 'regimen' is for {reg.drug} but drug = {data['drug']!r}"
            )
        if start_h is not None and reg.start_h != 0:
            raise PkdoseError(
                f"{source}: key 'start_h' and 'starting at' in key 'regimen' both give a start"
            )
    else:
        tables = data["block"]
        if not isinstance(tables, list):
            raise PkdoseError(f"{source}: key 'block' must be an array of tables: write [[block]]")
        if not tables:
            raise PkdoseError(f"{source}: key 'block' is empty; give at least one [[block]]")
        blocks = tuple(_block_from_table(source, i, t) for i, t in enumerate(tables, start=1))
        try:
            reg = Regimen(drug, blocks)
        except PkdoseError as err:
            raise PkdoseError(f"{source}: {err}") from None
    try:
        reg = replace(reg, name=name, start_h=start_h if start_h is not None else reg.start_h)
    except PkdoseError as err:
        raise PkdoseError(f"{source}: key 'start_h': {err}") from None
    reg = _with_events(source, reg, data, metadata)
    return RegimenFile(reg, description, MappingProxyType(metadata), source)


def _with_events(source: str, reg: Regimen, data: Mapping[str, Any],
                 metadata: Mapping[str, Any]) -> Regimen:
    """The regimen with the file's co-medications (``[[comedication]]`` tables and a
    reference's ``comedication`` list) and dose ``changes``."""
    comeds: list = []
    tables = data.get("comedication", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise PkdoseError(f"{source}: key 'comedication' must be [[comedication]] tables "
                          "with a name and optional first_day, last_day")
    for i, t in enumerate(tables, 1):
        where = f"{source}: [[comedication]] {i}"
        for key in t:
            if key not in _COMEDICATION_KEYS:
                raise _unknown_key(where, key, _COMEDICATION_KEYS)
        if "name" not in t:
            raise PkdoseError(f"{where}: missing key 'name' (e.g. name = \"ketoconazole\")")
        try:
            comeds.append(Comedication(_string(where, "name", t["name"]), t.get("first_day"),
                                       t.get("last_day")))
        except PkdoseError as err:
            raise PkdoseError(f"{where}: {err}") from None
    ref = metadata.get("reference", {})
    listed = ref.get("comedication", []) if isinstance(ref, dict) else []
    listed = [listed] if isinstance(listed, str) else listed
    if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
        raise PkdoseError(f"{source}: key 'reference.comedication' must be an array of names, "
                          f"e.g. [\"ciclosporin\"], got {listed!r}")
    from pkdose.interactions import get_interaction

    for c in listed:
        try:
            get_interaction(reg.drug, c)
        except PkdoseError as err:
            raise PkdoseError(f"{source}: key 'reference.comedication' has {c!r}: {err}"
                              ) from None
    comeds += listed
    changes = data.get("changes", [])
    if not isinstance(changes, list) or not all(isinstance(c, str) for c in changes):
        raise PkdoseError(f"{source}: key 'changes' must be an array of texts, e.g. "
                          "[\"missed week 3\"]")
    if not comeds and not changes:
        return reg
    try:
        parsed = [parse_change(text, reg.blocks[0].dose.route) for text in changes]
        return replace(reg.with_comedications(comeds), changes=reg.changes + tuple(parsed))
    except PkdoseError as err:
        raise PkdoseError(f"{source}: {err}") from None


def read_regimen_file(path: str | PathLike[str]) -> RegimenFile:
    """Read a TOML regimen file with its description and metadata tables.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    RegimenFile

    Raises
    ------
    PkdoseError
        One line naming the file (and key) for a missing file, invalid TOML or schema error.
    """
    return parse_regimen_toml(read_text(path, "regimen file"), source=str(path))


def read_regimen_toml(path: str | PathLike[str]) -> Regimen:
    """Read the regimen from a TOML regimen file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Regimen

    Raises
    ------
    PkdoseError
        As :func:`read_regimen_file`.
    """
    return read_regimen_file(path).regimen


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    """A TOML key: bare where it can be, quoted otherwise."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: object) -> str:
    """A TOML inline value. JSON string escapes are valid TOML basic-string escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (_dt.date, _dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise PkdoseError(f"cannot write {type(value).__name__} values to TOML")


def _is_table_array(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(v, Mapping) for v in value)
    )


def _emit_table(lines: list[str], path: list[str], table: Mapping[str, Any],
                array_item: bool = False) -> None:
    """Write ``[path]`` (or ``[[path]]`` for an item of an array of tables) and its keys."""
    header = ".".join(toml_key(p) for p in path)
    lines += ["", f"[[{header}]]" if array_item else f"[{header}]"]
    nested = []
    for key, value in table.items():
        if isinstance(value, Mapping) or _is_table_array(value):
            nested.append((key, value))
        else:
            lines.append(f"{toml_key(str(key))} = {toml_value(value)}")
    for key, value in nested:
        if isinstance(value, Mapping):
            _emit_table(lines, [*path, str(key)], value)
        else:
            for item in value:
                _emit_table(lines, [*path, str(key)], item, array_item=True)


def regimen_to_toml(
    reg: Regimen, *, description: str = "", metadata: Mapping[str, Any] | None = None
) -> str:
    """The TOML text of a regimen file, with explicit ``[[block]]`` tables.

    Parameters
    ----------
    reg : Regimen
    description : str
        Written as the ``description`` key when not empty.
    metadata : Mapping, optional
        Tables to write after the blocks, e.g. ``{"source": {"citation": "..."}}``.

    Returns
    -------
    str
        TOML whose first line is a comment with the canonical text of the regimen;
        :func:`parse_regimen_toml` reads it back to an equal regimen.
    """
    lines = [f"# {format_regimen(reg)}", f"drug = {toml_value(reg.drug)}"]
    if reg.name:
        lines.append(f"name = {toml_value(reg.name)}")
    if description:
        lines.append(f"description = {toml_value(description)}")
    if reg.start_h != 0:
        lines.append(f"start_h = {toml_value(float(reg.start_h))}")
    if reg.changes:
        lines.append(f"changes = {toml_value([format_change(c) for c in reg.changes])}")
    for c in reg.comedications:
        lines += ["", "[[comedication]]", f"name = {toml_value(c.name)}"]
        lines += [f"{k} = {getattr(c, k)}" for k in ("first_day", "last_day")
                  if getattr(c, k) is not None]
    for b in reg.blocks:
        d = b.dose
        lines += [
            "",
            "[[block]]",
            f"amount = {toml_value(float(d.amount))}",
            f"unit = {toml_value(d.unit)}",
            f"route = {toml_value(d.route)}",
        ]
        if d.route == "infusion":
            lines.append(f"infusion_h = {toml_value(float(d.infusion_h))}")
        if b.weekdays:
            lines.append(f"weekdays = {toml_value([WEEKDAYS[i] for i in b.weekdays])}")
        for key in ("interval_h", "on_h", "off_h", "duration_h", "at_h"):
            value = getattr(b, key)
            if value is not None:
                lines.append(f"{key} = {toml_value(float(value))}")
        if b.n_doses is not None:
            lines.append(f"n_doses = {int(b.n_doses)}")
        if b.label:
            lines.append(f"label = {toml_value(b.label)}")
    for key, value in (metadata or {}).items():
        if key in _TOP_KEYS:
            raise PkdoseError(f"metadata table name {key!r} is reserved for the regimen")
        if isinstance(value, Mapping):
            _emit_table(lines, [str(key)], value)
        elif _is_table_array(value):
            for item in value:
                _emit_table(lines, [str(key)], item, array_item=True)
        else:
            raise PkdoseError(f"metadata {key!r} must be a table (a mapping)")
    return "\n".join(lines) + "\n"


def write_regimen_toml(
    reg: Regimen,
    path: str | PathLike[str],
    *,
    description: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a regimen to a TOML file (see :func:`regimen_to_toml`).

    Parameters
    ----------
    reg : Regimen
    path : str or path-like
    description : str
    metadata : Mapping, optional
    """
    text = regimen_to_toml(reg, description=description, metadata=metadata)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as err:
        raise PkdoseError(f"cannot write regimen file {path}: {err}") from None


# ---------------------------------------------------------------------------------------
# Event tables
# ---------------------------------------------------------------------------------------

#: The NONMEM columns pkdose writes, in order. UNIT (dose unit, when not all mg), DUR
#: (infusion hours, only when AMT / RATE does not give them back exactly) and DRUG
#: follow.
EVENT_COLUMNS = ("ID", "TIME", "AMT", "EVID", "CMT", "II", "ADDL", "RATE", "SS")

_EXPECTED_COLUMNS = "expected columns ID, TIME, AMT, EVID, CMT, II, ADDL, RATE, SS"
_CMT_DEPOT, _CMT_CENTRAL = 1, 2


def _duration_from_rate(amount: float, rate: float) -> float:
    """Infusion hours from AMT / RATE, as the shortest decimal that reproduces RATE."""
    guess = amount / rate
    for digits in range(1, 18):
        candidate = float(f"{guess:.{digits}g}")
        if candidate > 0 and amount / candidate == rate:
            return candidate
    return guess


def _train_rows(train: DoseTrain, until_h: float | None) -> tuple[float, int] | None:
    """(II, ADDL) of a train, cut to doses before ``until_h``; None when none is left."""
    n = train.n
    if until_h is not None:
        if train.t0_h >= until_h:
            return None
        if train.ii_h > 0:
            before = math.ceil((until_h - train.t0_h) / train.ii_h - 1e-9)
            n = min(n, max(before, 1))
        else:
            n = 1
    if math.isinf(n):
        return train.ii_h, -1
    n = int(n)
    return (train.ii_h if n > 1 else 0.0), n - 1


def regimen_to_events(
    reg: Regimen, id: int | str = 1, *, until_h: float | None = None
) -> pd.DataFrame:
    """NONMEM-style dose records of a regimen: one row per dose train.

    Parameters
    ----------
    reg : Regimen
    id : int or str
        The ID column value.
    until_h : float, optional
        Keep only doses before this time. Without it, a train that never stops is written
        with ``ADDL = -1`` (pkdose's "repeat forever"), which NONMEM and mrgsolve do not
        accept; give ``until_h`` to write a table they can run.

    Returns
    -------
    pandas.DataFrame
        Columns ID, TIME (h), AMT, EVID (1), CMT (1 depot for oral, ip, sc and diet, 2
        central for iv and infusion), II (h), ADDL, RATE (AMT / infusion hours, else 0),
        SS (0); then UNIT when some dose is in mg/kg, mg/m2 or ppm, ROUTE when some dose
        is ip, sc or diet, DUR (infusion hours) when AMT / RATE does not give them back
        exactly, and DRUG. A diet row is one day's food as a zero-order input into the
        depot over 24 h (RATE = AMT / 24, II = 24); AMT stays in ppm of food, which a
        NONMEM model must turn into mg with the animals' food intake (pkdose itself
        spreads the day's intake over the species' feeding pattern).

    Dose changes are in the rows (a held or missed dose is not written); co-medications
    have no place in dose records, so a regimen that carries some is refused rather than
    written without them.
    """
    if reg.comedications:
        raise PkdoseError(f"an event table holds doses only, and {reg.drug} here is given "
                          f"with {' and '.join(str(c) for c in reg.comedications)}; write the "
                          "regimen as TOML (regimen_to_toml) to keep its co-medications")
    rows = []
    for tr in compile_trains(reg):
        cut = _train_rows(tr, until_h)
        if cut is None:
            continue
        ii, addl = cut
        hours = HOURS_PER_DAY if tr.route == "diet" else tr.infusion_h
        rows.append(
            {
                "ID": id,
                "TIME": float(tr.t0_h),
                "AMT": float(tr.amount),
                "EVID": 1,
                "CMT": _CMT_CENTRAL if tr.route in ("iv", "infusion") else _CMT_DEPOT,
                "II": float(ii),
                "ADDL": addl,
                "RATE": tr.amount / hours if hours else 0.0,
                "SS": 0,
                "DUR": float(hours),
                "UNIT": tr.unit,
                "ROUTE": tr.route,
                "DRUG": reg.drug,
            }
        )
    columns = list(EVENT_COLUMNS)
    if any(r["UNIT"] != "mg" for r in rows):
        columns.append("UNIT")
    if any(r["ROUTE"] in ANIMAL_ROUTES for r in rows):
        columns.append("ROUTE")
    if any(r["RATE"] > 0 and _duration_from_rate(r["AMT"], r["RATE"]) != r["DUR"] for r in rows):
        columns.insert(columns.index("SS") + 1, "DUR")
    columns.append("DRUG")
    df = pd.DataFrame(rows, columns=[*EVENT_COLUMNS, "DUR", "UNIT", "ROUTE", "DRUG"])
    df = df.astype({"TIME": float, "AMT": float, "II": float, "RATE": float, "DUR": float})
    df = df.astype({"EVID": np.int64, "CMT": np.int64, "ADDL": np.int64, "SS": np.int64})
    return df[columns].reset_index(drop=True)


def _columns(df: pd.DataFrame, source: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for col in df.columns:
        key = str(col).strip().lstrip("#").strip().upper()
        if key in found:
            raise PkdoseError(f"{source} has two {key} columns ({found[key]!r} and {col!r})")
        found[key] = col
    for required in ("TIME", "AMT"):
        if required not in found:
            raise PkdoseError(f"{source} has no {required} column; {_EXPECTED_COLUMNS}")
    return found


def _as_float(value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class _DoseRow:
    row: int  # 1-based data row, for messages
    time: float
    block: Block  # unanchored
    drug: str | None


def _read_row(source: str, n: int, get: Any) -> _DoseRow | None:
    """One table row as an unanchored block; None for a row that is not a dose."""
    where = f"{source}: row {n}"
    amt = _as_float(get("AMT", math.nan))
    evid_raw = get("EVID", None)
    if evid_raw is None:
        # No EVID column: as in NONMEM, a row with an amount is a dose.
        if math.isnan(amt) or amt == 0:
            return None
        evid = 1.0
    else:
        evid = _as_float(evid_raw)
        if math.isnan(evid):
            raise PkdoseError(f"{where}: EVID is missing or not a number ({evid_raw!r})")
    if evid in (0, 2):
        return None
    if evid == 3:
        raise PkdoseError(
            f"{where}: EVID 3 (reset) is not supported; pkdose regimens start from no drug, "
            "so split the record into separate IDs at the reset"
        )
    if evid == 4:
        raise PkdoseError(
            f"{where}: EVID 4 (reset and dose) is not supported; pkdose regimens start from "
            "no drug, so split the record into separate IDs at the reset"
        )
    if evid != 1:
        raise PkdoseError(f"{where}: EVID {evid:g} is not a dose (1) or a skipped record (0, 2)")

    def number(col: str, default: float) -> float:
        raw = get(col, None)
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            return float(default)
        value = _as_float(raw)
        if math.isnan(value):
            raise PkdoseError(f"{where}: {col} is not a number ({raw!r})")
        return value

    time = number("TIME", math.nan)
    if math.isnan(time):
        raise PkdoseError(f"{where}: TIME is missing")
    if math.isinf(time):
        raise PkdoseError(f"{where}: TIME must be a finite number of hours")
    if math.isnan(amt):
        raise PkdoseError(f"{where}: AMT is missing or not a number ({get('AMT', None)!r})")
    cmt, ii, addl = number("CMT", 1), number("II", 0.0), number("ADDL", 0)
    rate, ss = number("RATE", 0.0), number("SS", 0)
    if ss != 0:
        raise PkdoseError(
            f"{where}: SS={ss:g} (steady state before TIME) is not supported; pkdose computes "
            "the steady state of trains that repeat forever: give ADDL=-1 and SS=0"
        )
    if rate in (-1, -2):
        kind = "rate" if rate == -1 else "duration"
        raise PkdoseError(
            f"{where}: RATE {rate:g} (modelled {kind}) not supported; "
            "give RATE = AMT / infusion hours"
        )
    if rate < 0:
        raise PkdoseError(f"{where}: RATE {rate:g} must be 0 (bolus) or AMT / infusion hours")
    route_raw = get("ROUTE", None)
    given_route = None
    if isinstance(route_raw, str) and route_raw.strip():
        given_route = route_raw.strip().lower()
        if given_route not in ROUTES:
            raise PkdoseError(f"{where}: ROUTE {route_raw!r}; use one of {', '.join(ROUTES)}")
    if given_route == "diet":
        if cmt != _CMT_DEPOT or (rate > 0 and abs(rate * HOURS_PER_DAY - amt) > 1e-9 * amt):
            raise PkdoseError(
                f"{where}: a diet row goes into CMT 1 over one day (RATE = AMT / 24)"
            )
        rate = 0.0
    if cmt not in (_CMT_DEPOT, _CMT_CENTRAL):
        raise PkdoseError(
            f"{where}: CMT {cmt:g} is not a pkdose compartment; use 1 (depot, oral) "
            "or 2 (central, iv)"
        )
    if rate > 0 and cmt != _CMT_CENTRAL:
        raise PkdoseError(f"{where}: an infusion (RATE > 0) goes into CMT 2 (central), not CMT 1")
    if not (addl.is_integer() and addl >= -1):
        raise PkdoseError(f"{where}: ADDL {addl:g} must be a whole number >= 0 (or -1: forever)")
    if addl != 0 and not ii > 0:
        raise PkdoseError(f"{where}: ADDL {addl:g} needs II > 0 (the dosing interval in h)")
    if ii < 0:
        raise PkdoseError(f"{where}: II {ii:g} must not be negative")
    unit_raw = get("UNIT", None)
    unit = "mg"
    if isinstance(unit_raw, str) and unit_raw.strip():
        unit = unit_raw.strip().lower().replace("²", "2").replace(" ", "")
        if unit not in AMOUNT_UNITS:
            raise PkdoseError(f"{where}: UNIT {unit_raw!r}; use one of {', '.join(AMOUNT_UNITS)}")
    drug_raw = get("DRUG", None)
    drug = None
    if isinstance(drug_raw, str) and drug_raw.strip():
        try:
            drug = resolve_drug(drug_raw)
        except PkdoseError as err:
            raise PkdoseError(f"{where}: {err}") from None
    infusion_h = 0.0
    if rate > 0:
        dur = number("DUR", 0.0)
        if dur > 0:
            if abs(amt / dur - rate) > 1e-9 * rate:
                raise PkdoseError(
                    f"{where}: RATE {rate:g} does not match AMT / DUR = {amt / dur:g}"
                )
            infusion_h = dur
        else:
            infusion_h = _duration_from_rate(amt, rate)
    route = "infusion" if rate > 0 else ("iv" if cmt == _CMT_CENTRAL else "oral")
    if given_route in ANIMAL_ROUTES:
        if cmt != _CMT_DEPOT or rate > 0:
            raise PkdoseError(f"{where}: a {given_route} dose goes into CMT 1 with RATE 0")
        route = given_route
    elif given_route is not None and given_route != route:
        raise PkdoseError(f"{where}: ROUTE {given_route} does not match CMT {cmt:g} "
                          f"and RATE {rate:g} (which mean {route})")
    try:
        dose = Dose(amt, unit, route, infusion_h)
        if addl == 0:
            block = Block(dose)
        elif addl == -1:
            block = Block(dose, interval_h=ii)
        else:
            block = Block(dose, interval_h=ii, n_doses=int(addl) + 1)
    except PkdoseError as err:
        raise PkdoseError(f"{where}: {err}") from None
    return _DoseRow(n, time, block, drug)


def _regimen_from_rows(source: str, rows: list[_DoseRow], drug: str | None) -> Regimen:
    if not rows:
        raise PkdoseError(f"{source} has no dose rows (EVID 1 with AMT > 0)")
    if len(rows) > MAX_TRAINS:
        raise exceeded("trains", f"{source}: {len(rows):,} dose rows for one ID")
    drugs = {r.drug for r in rows if r.drug is not None}
    if drug is not None:
        drug = resolve_drug(drug)
        if drugs - {drug}:
            raise PkdoseError(f"{source}: DRUG column says {', '.join(sorted(drugs))}, not {drug}")
    elif len(drugs) > 1:
        raise PkdoseError(f"{source} mixes drugs ({', '.join(sorted(drugs))}); pkdose takes one")
    elif drugs:
        drug = drugs.pop()
    else:
        raise PkdoseError(f"{source} has no DRUG column; give the drug (sirolimus or everolimus)")
    rows = sorted(rows, key=lambda r: r.time)  # stable: ties keep table order
    try:
        return Regimen(drug, _row_blocks(rows))
    except PkdoseError as err:
        raise PkdoseError(f"{source}: {err}") from None


def _row_blocks(rows: list[_DoseRow]) -> tuple[Block, ...]:
    """Blocks of time-ordered dose rows: sequenced where one ends as the next begins."""
    blocks: list[Block] = []
    prev_start = 0.0
    for r in rows:
        block = r.block
        if not blocks:
            anchored = block if r.time == 0 else replace(block, at_h=r.time)
        else:
            # A row that starts exactly when the previous one ends is written as a plain
            # sequence ("... then ..."); any other row is anchored at its TIME.
            anchored = replace(block, at_h=r.time)
            prev = blocks[-1]
            if not prev.is_indefinite and prev_start + block_length_h(prev, block) == r.time:
                anchored = block
        blocks.append(anchored)
        prev_start = r.time
    return tuple(blocks)


def _group_rows(df: pd.DataFrame, source: str, max_ids: int | None = None,
                bad: dict[Any, PkdoseError] | None = None) -> dict[Any, list[_DoseRow]]:
    """Dose rows by ID; more than ``max_ids`` IDs are refused before their rows are read.
    With ``bad``, a row that cannot be read is kept there as its subject's first error
    instead of raised."""
    cols = _columns(df, source)
    records = df.rename(columns={v: k for k, v in cols.items()}).to_dict("records")
    groups: dict[Any, list[_DoseRow]] = {}
    for n, rec in enumerate(records, start=1):
        subject = _plain(rec.get("ID", 1))
        if isinstance(subject, float) and math.isnan(subject):
            raise PkdoseError(f"{source}: row {n}: ID is missing")
        if isinstance(subject, float) and subject.is_integer():
            subject = int(subject)
        rows = groups.setdefault(subject, [])
        if max_ids is not None and len(groups) > max_ids:
            raise exceeded("event_ids", f"{source} with more than {max_ids:,} IDs")
        try:
            dose = _read_row(source, n, rec.get)
        except PkdoseError as exc:
            if bad is None:
                raise
            bad.setdefault(subject, exc)
            continue
        if dose is not None:
            rows.append(dose)
    return groups


def events_to_regimens(
    df: pd.DataFrame, drug: str | None = None, *, source: str = "event table"
) -> dict[Any, Regimen]:
    """One regimen per ID of an event table.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns as in :func:`events_to_regimen`.
    drug : str, optional
        The drug, when the table has no DRUG column.
    source : str
        Name used in error messages (e.g. the file path).

    Returns
    -------
    dict
        ID -> Regimen, in order of first appearance.
    """
    read = events_by_subject(df, drug, source=source)
    for value in read.values():
        if isinstance(value, PkdoseError):
            raise value
    return read  # type: ignore[return-value]


def events_by_subject(
    df: pd.DataFrame, drug: str | None = None, *, source: str = "event table"
) -> dict[Any, Regimen | PkdoseError]:
    """As :func:`events_to_regimens`, but a subject whose rows cannot be read maps to the
    error (the other subjects are still read), so a batch keeps every good subject.

    Raises
    ------
    PkdoseError
        What concerns the whole table: a missing column or ID, no rows, too many IDs.
    """
    bad: dict[Any, PkdoseError] = {}
    groups = _group_rows(df, source, MAX_EVENT_IDS, bad)
    if not groups:
        raise PkdoseError(f"{source} has no rows; {_EXPECTED_COLUMNS}")
    out: dict[Any, Regimen | PkdoseError] = {}
    for subject, rows in groups.items():
        try:
            out[subject] = bad.get(subject) or _regimen_from_rows(
                f"{source} (ID {subject})", rows, drug)
        except PkdoseError as exc:
            out[subject] = exc
    return out


def events_to_regimen(
    df: pd.DataFrame,
    drug: str | None = None,
    *,
    id: Any = None,
    source: str = "event table",
) -> Regimen:
    """Read a NONMEM-style event table as a regimen with exactly the same dose trains.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns (any case): TIME and AMT required; ID, EVID (default 1), CMT (1), II (0),
        ADDL (0; -1 = forever), RATE (0), SS (0), UNIT (mg), DUR, DRUG optional; other
        columns (DV, MDV, covariates) are ignored. Rows with EVID 0 or 2 are skipped.
    drug : str, optional
        The drug, when the table has no DRUG column.
    id : optional
        Which subject to read when the table has several IDs.
    source : str
        Name used in error messages (e.g. the file path).

    Returns
    -------
    Regimen
        One block per dose row, in time order: a row that starts exactly when the previous
        row's train ends follows it as in a text regimen; any other row is anchored at its
        TIME (``Block.at_h``). ``compile_trains`` of the result reproduces the rows.

    Raises
    ------
    PkdoseError
        For a missing column, several IDs without ``id``, EVID 3/4 (resets), SS != 0,
        RATE -1/-2 (modelled infusions), CMT other than 1/2, or invalid values; the message
        names the row.
    """
    groups = _group_rows(df, source)
    if not groups:
        raise PkdoseError(f"{source} has no rows; {_EXPECTED_COLUMNS}")
    if id is None:
        if len(groups) > 1:
            listed = ", ".join(str(k) for k in list(groups)[:5])
            more = ", ..." if len(groups) > 5 else ""
            raise PkdoseError(
                f"{source} has {len(groups)} subjects (ID {listed}{more}); choose one with "
                "id=... or read them all with events_to_regimens"
            )
        (id,) = groups
    elif id not in groups:
        raise PkdoseError(f"{source} has no ID {id!r}; IDs are {', '.join(map(str, groups))}")
    label = source if len(groups) == 1 else f"{source} (ID {id})"
    return _regimen_from_rows(label, groups[id], drug)


def read_events_csv(path: str | PathLike[str]) -> pd.DataFrame:
    """Read an event table from CSV (NONMEM's ``.`` counts as missing).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    pandas.DataFrame
        The table as written; pass it to :func:`events_to_regimen` with
        ``source=str(path)`` so messages name the file.
    """
    # pandas < 3 parses floats slightly inexactly unless asked; pandas 3 is exact and
    # deprecates the option.
    exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    return read_csv(path, "event table", empty_hint=_EXPECTED_COLUMNS, na_values=["."],
                    skipinitialspace=True, **exact)


def write_events_csv(
    events: Regimen | pd.DataFrame,
    path: str | PathLike[str],
    *,
    id: int | str = 1,
    until_h: float | None = None,
) -> None:
    """Write an event table (or a regimen's, via :func:`regimen_to_events`) as CSV.

    Parameters
    ----------
    events : Regimen or pandas.DataFrame
    path : str or path-like
    id : int or str
        ID for a regimen's rows.
    until_h : float, optional
        For a regimen: keep only doses before this time (see :func:`regimen_to_events`).
    """
    if isinstance(events, Regimen):
        events = regimen_to_events(events, id, until_h=until_h)
    try:
        events.to_csv(path, index=False)
    except OSError as err:
        raise PkdoseError(f"cannot write event table {path}: {err}") from None
