"""Typed results that render themselves: the CLI, the report and JSON show the same numbers.

An :class:`ExposureTable` holds one row per (regimen, subject) with identity columns
(``ID_COLUMNS``) and the engine's metric columns; it renders to a frame (wide or long),
JSON and an aligned text table. A :class:`Placement` holds a table of regimens placed
among reference regimens. Frames always carry their columns, even when empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pkdose import NOTICE, __version__
from pkdose.engine import QUANTITIES, Basis, Scenario, basis_for, evaluate, quantity

_REGISTERED = frozenset(q.column for q in QUANTITIES.values())
#: Columns that say what a row is, before the metric columns.
ID_COLUMNS = ("regimen", "drug", "model", "species", "comedication", "basis", "window_h", "id")

#: The headline columns of a text table, in order.
TEXT_METRICS = ("Cmax", "Tmax", "Ctrough", "Cavg", "AUC168", "PTF", "Tabove 3",
                "Tbelow_longest 1", "mTORC1 mean", "mTORC2 mean", "mTORC2 verdict")

LEGEND = ("concentrations in whole blood, ng/mL; AUC168 = AUC per week (ng*h/mL); "
          "PTF = peak-trough fluctuation; h>3/wk = hours per week above 3 ng/mL; "
          "mTORC1 % = mean inhibition; mTORC2 % = mean assembled fraction (a research "
          "hypothesis: see pkdose flag); n/a = not defined for this basis")

#: What text shows for a value that is not defined (NaN, inf, None): never nan or inf.
NOT_AVAILABLE = "n/a"


def number(value: object, spec: str = ".3g", unit: str = "") -> str:
    """A number as text in the format ``spec`` (then `` unit``); ``n/a`` for NaN, inf or
    None.

    Every text output formats numbers that can be undefined through here (or
    :func:`format_value`), so no table shows nan, inf or None.
    """
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return NOT_AVAILABLE
    if not math.isfinite(x):
        return NOT_AVAILABLE
    return format(x, spec) + (f" {unit}" if unit else "")


def format_value(value: object, unit: str) -> str:
    """A metric value as shown in text: significant digits by unit, n/a where undefined."""
    if isinstance(value, str):
        return value
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return NOT_AVAILABLE
    if unit == "fraction":
        return f"{100 * x:.0f}"
    if unit == "h/week":
        return f"{x:.1f}"
    if unit == "h":
        return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
    if unit == "%":
        return f"{x:.0f}"
    if unit == "ng*h/mL":
        return f"{x:.4g}"
    return f"{x:.3g}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1,
               left_also: Sequence[int] = (), indent: str = "", rule: bool = True) -> str:
    """Aligned plain-text table; the first ``left`` columns (and ``left_also``) flush
    left, the others right; ``rule`` draws a line under the header."""
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for k, r in enumerate(cells):
        parts = [r[i].ljust(widths[i]) if i < left or i in left_also else r[i].rjust(widths[i])
                 for i in range(len(header))]
        out.append(indent + "  ".join(parts).rstrip())
        if k == 0 and rule:
            out.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class ExposureTable:
    """Exposure metrics, one row per (regimen, subject).

    Build with :func:`exposure_table`; read with :meth:`to_frame`, :meth:`to_long`,
    :meth:`to_json` or :meth:`to_text`.
    """

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def metric_columns(self) -> list[str]:
        """The metric columns present, in registry order."""
        return [c for c in self.frame.columns if c in _REGISTERED]

    def to_frame(self) -> pd.DataFrame:
        """Wide frame: identity columns, then one column per metric (a copy)."""
        return self.frame.copy()

    def to_long(self) -> pd.DataFrame:
        """Long frame: the identity columns, ``metric`` (registry name), ``column``,
        ``value`` (numbers) or ``label`` (verdicts, reasons) and ``unit``."""
        rows = []
        for col in self.metric_columns:
            q = quantity(col)
            part = self.frame[list(ID_COLUMNS)].copy()
            text = q.unit in ("label", "text")
            part["metric"], part["column"], part["unit"] = q.name, col, q.unit
            part["value"] = np.nan if text else self.frame[col].astype(float)
            part["label"] = self.frame[col].astype(str) if text else ""
            rows.append(part)
        cols = [*ID_COLUMNS, "metric", "column", "value", "label", "unit"]
        return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)

    def records(self) -> list[dict]:
        """The rows as JSON-ready dicts (NaN as None)."""
        return json.loads(self.frame.to_json(orient="records", double_precision=10))

    def to_json(self, **extra: object) -> str:
        """JSON with the research notice, the pkdose version and the rows."""
        return json.dumps({"notice": NOTICE, "pkdose_version": __version__,
                           "rows": self.records(), **extra}, indent=2) + "\n"

    def to_text(self, metrics: Sequence[str] = TEXT_METRICS, prefixes: Sequence[str] = (),
                legend: bool = True) -> str:
        """Aligned text table of the headline metrics, with its legend.

        ``prefixes`` go before the regimen text, row by row (e.g. reference names).
        """
        shown = [quantity(m) for m in metrics if quantity(m).column in self.frame]
        several = self.frame["id"].nunique() > 1 if len(self.frame) else False
        header = ["regimen", "model", "basis", *(["id"] if several else []),
                  *(q.label for q in shown)]
        rows = []
        for k, (_, r) in enumerate(self.frame.iterrows()):
            name = (f"{prefixes[k]}: " if prefixes else "") + _with_comedication(r)
            rows.append([name, str(r["model"]), str(r["basis"]),
                         *([str(r["id"])] if several else []),
                         *(format_value(r[q.column], q.unit) for q in shown)])
        verdict = [i for i, h in enumerate(header) if h == QUANTITIES["mTORC2 verdict"].label]
        return text_table(header, rows, left=3, left_also=verdict) + (
            LEGEND + "\n" if legend else "")


def _with_comedication(row: pd.Series) -> str:
    comed = str(row.get("comedication", "") or "")
    return str(row["regimen"]) if not comed else f"{row['regimen']} + " + comed.replace(
        "+", " + ")


def exposure_table(scenarios: Sequence[Scenario], metrics: Sequence[str] | None = None,
                   window_h: tuple[float, float] | None = None,
                   extra: Sequence[Mapping[str, object]] = ()) -> ExposureTable:
    """Evaluate scenarios into one table (one row per scenario and subject).

    ``extra`` adds constant columns per scenario (e.g. a reference name), placed first.
    """
    parts = []
    for k, scn in enumerate(scenarios):
        basis: Basis = basis_for(scn.regimen, window_h)
        vals = evaluate(scn, metrics, basis)
        n = scn.n_subjects
        ident = {"regimen": str(scn.regimen), "drug": scn.regimen.drug,
                 "model": scn.model.name, "species": scn.model.species,
                 "comedication": "+".join(scn.comedication), "basis": basis.label,
                 "window_h": basis.length_h, "id": np.arange(1, n + 1)}
        df = pd.DataFrame({**{c: ident[c] for c in ID_COLUMNS}, **vals}, index=range(n))
        for key, value in (extra[k] if extra else {}).items():
            df.insert(0, key, value)
        parts.append(df)
    if not parts:
        cols = [*ID_COLUMNS, *(quantity(m).column for m in (metrics or ()))]
        return ExposureTable(pd.DataFrame(columns=cols))
    return ExposureTable(pd.concat(parts, ignore_index=True))
