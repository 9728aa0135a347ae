"""Typed results that render themselves: the CLI, the report and JSON show the same numbers.

An :class:`ExposureTable` holds one row per (regimen, subject) with identity columns
(``ID_COLUMNS``) and the engine's metric columns; it renders to a frame (wide or long),
JSON and an aligned text table. Built with the other models valid for each regimen, it
also carries the **model range**: each numeric metric's lowest and highest value over
those models (``<column>_model_low``, ``<column>_model_high``), the models it spans
(``range_models``) and the mTORC2 verdict of each (``mtorc2_verdict_by_model``,
``mtorc2_models_disagree``). Built with a virtual population, each row also carries its
**population interval**: the 5th and 95th percentile of each numeric metric over the
population's subjects (``<column>_pop_p5``, ``<column>_pop_p95``) and the share of them
per mTORC2 verdict (``mtorc2_spared_fraction``, ...). A :class:`Placement` holds a table
of regimens placed among reference regimens. Frames always carry their columns, even when empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pkdose import NOTICE, __version__
from pkdose.engine import QUANTITIES, Basis, Quantity, Scenario, basis_for, evaluate, quantity

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
#: Legend of a whole-course basis, printed when some row has one.
COURSE_LEGEND = ("course 0-N h = the whole course from the first dose: a regimen with a "
                 "missed, late, held or extra dose, or a co-medication that starts or stops, "
                 "has no steady state, so its metrics summarise hours 0-N (to the end of the "
                 "regimen, or one week after its last change, in whole weeks)")
#: Legend of the model range, printed when some row has one.
RANGE_LEGEND = ("range over N models = [lowest-highest] value over every shipped model "
                "valid for the regimen (same drug and species, takes its route and "
                "co-medication; a dose outside a model's fitted range is warned about, not "
                "left out); * = those models disagree on the mTORC2 verdict")
#: Suffixes of a metric column's model-range columns.
LOW, HIGH = "_model_low", "_model_high"
#: The per-row model-range columns that are not a metric's low or high.
RANGE_COLUMNS = ("range_models", "mtorc2_verdict_by_model", "mtorc2_models_disagree")
#: Percentiles over a virtual population given beside a typical row, and the suffixes of
#: a metric column's population-interval columns.
POPULATION_PERCENTILES = (5.0, 95.0)
P5, P95 = "_pop_p5", "_pop_p95"
#: mTORC2 verdicts whose share of the population is reported (``mtorc2_<label>_fraction``).
VERDICT_LABELS = ("spared", "equivocal", "inhibited")
#: The per-row population columns that are not a metric's interval.
POPULATION_COLUMNS = ("population", "population_n",
                      *(f"mtorc2_{v}_fraction" for v in VERDICT_LABELS))
#: Legend of the population interval, printed when some row has one.
POPULATION_LEGEND = ("5-95 % of N = the 5th to 95th percentile of each metric over N "
                     "virtual subjects of the population (covariates and between-subject "
                     "variability), and the share of them per mTORC2 verdict")

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


def json_text(**fields: object) -> str:
    """A JSON document of pkdose: the research notice, the pkdose version, then ``fields``."""
    return json.dumps({"notice": NOTICE, "pkdose_version": __version__, **fields},
                      indent=2) + "\n"


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
    by_model: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def metric_columns(self) -> list[str]:
        """The metric columns present, in registry order."""
        return [c for c in self.frame.columns if c in _REGISTERED]

    def to_frame(self, models: bool = False) -> pd.DataFrame:
        """Wide frame (a copy): identity columns, then one column per metric, each followed
        by its model range where there is one, then the range's models and verdicts.

        With ``models``, one row per (regimen, subject, model) instead: the values of every
        model in the range, ``primary`` True on the row's own model (the table without a
        model range has only those).
        """
        if models:
            if self.by_model is None:
                return self.frame[[c for c in self.frame.columns if not _is_range(c)]].assign(
                    primary=True)
            return self.by_model.copy()
        return self.frame.copy()

    def to_long(self, models: bool = False) -> pd.DataFrame:
        """Long frame: the identity columns, ``metric`` (registry name), ``column``,
        ``value`` (numbers) or ``label`` (verdicts, reasons), ``unit``, the model range
        of the value, ``model_low`` and ``model_high``, and its population interval,
        ``pop_p5`` and ``pop_p95`` (NaN without one).

        With ``models``, every model's value: one row per (regimen, subject, model,
        metric), ``primary`` True on the row's own model, no range columns.
        """
        frame = self.to_frame(models=True) if models else self.frame
        ident = [*ID_COLUMNS, *(["primary"] if models else [])]
        rows = []
        for col in [c for c in frame.columns if c in _REGISTERED]:
            q = quantity(col)
            part = frame[ident].copy()
            text = q.unit in ("label", "text")
            part["metric"], part["column"], part["unit"] = q.name, col, q.unit
            part["value"] = np.nan if text else frame[col].astype(float)
            part["label"] = frame[col].astype(str) if text else ""
            if not models:
                for end, name in ((LOW, "model_low"), (HIGH, "model_high"), (P5, "pop_p5"),
                                  (P95, "pop_p95")):
                    part[name] = frame[col + end].astype(float) if col + end in frame else np.nan
            rows.append(part)
        cols = [*ident, "metric", "column", "value", "label", "unit",
                *([] if models else ["model_low", "model_high", "pop_p5", "pop_p95"])]
        return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)

    def records(self) -> list[dict]:
        """The rows as JSON-ready dicts (NaN as None)."""
        return json.loads(self.frame.to_json(orient="records", double_precision=10))

    def to_json(self, **extra: object) -> str:
        """JSON with the research notice, the pkdose version and the rows."""
        return json_text(rows=self.records(), **extra)

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
        legends = {LEGEND: True, RANGE_LEGEND: False, POPULATION_LEGEND: False}
        for k, (_, r) in enumerate(self.frame.iterrows()):
            # A scenario's regimen text says its co-medications (engine.scenario merges them).
            name = (f"{prefixes[k]}: " if prefixes else "") + str(r["regimen"])
            rows.append([name, str(r["model"]), str(r["basis"]),
                         *([str(r["id"])] if several else []),
                         *(format_value(r[q.column], q.unit) + verdict_mark(r, q.column)
                           for q in shown)])
            for label, legend, cells in span_rows(r, shown):
                legends[legend] = True
                rows.append([f"  {label}", "", "", *([""] if several else []), *cells])
        verdict = [i for i, h in enumerate(header) if h == QUANTITIES["mTORC2 verdict"].label]
        if "basis" in self.frame and self.frame["basis"].astype(str).str.startswith(
                "course").any():
            legends[COURSE_LEGEND] = True
        return text_table(header, rows, left=3, left_also=verdict) + (
            "".join(t + "\n" for t in (*(t for t, shown in legends.items() if shown),
                                        *metabolite_legend(self.frame)))
            if legend else "")


def metabolite_legend(frame: pd.DataFrame) -> list[str]:
    """One line per parent-metabolite model in ``frame``: its rows are the metabolite's."""
    from pkdose.model import builtin_models

    models = builtin_models()
    out = []
    for name in dict.fromkeys(frame.get("model", ())):
        m = models.get(str(name))
        if m is not None and m.metabolite:
            out.append(f"{m.drug} rows (model {m.name}): every metric is of whole-blood "
                       f"{m.metabolite}, the active metabolite it forms; {m.drug} itself is "
                       f"the {m.drug}_ng_ml curve of pkdose simulate")
    return out


def _is_range(column: str) -> bool:
    """A model-range or population column: not a value of one model's row."""
    return column.endswith((LOW, HIGH, P5, P95)) or column in (*RANGE_COLUMNS,
                                                               *POPULATION_COLUMNS)


def model_range(row: Mapping[str, object]) -> list[str]:
    """The models a table row's model range spans (own model first), or [] when it has
    no range of two or more models."""
    names = [m for m in str(row.get("range_models", "") or "").split(",") if m]
    return names if len(names) > 1 else []


def span_rows(row: Mapping[str, object], shown: Sequence[Quantity]
              ) -> list[tuple[str, str, list[str]]]:
    """The rows shown under a table row: its model range, then its population interval,
    each as (label, its legend, one text per ``shown`` quantity); [] without either."""
    out = []
    if models := model_range(row):
        out.append((f"range over {len(models)} models", RANGE_LEGEND,
                    [range_text(row, q.column, q.unit) for q in shown]))
    if pd.notna(row.get("population_n", np.nan)):
        out.append((f"5-95 % of {row['population_n']:.0f} ({row['population']})",
                    POPULATION_LEGEND, [interval_text(row, q.column, q.unit) for q in shown]))
    return out


def verdict_mark(row: Mapping[str, object], column: str) -> str:
    """``*`` after the mTORC2 verdict of a row whose models disagree on it, else ''."""
    disagree = column == QUANTITIES["mTORC2 verdict"].column and bool(
        row.get("mtorc2_models_disagree", False))
    return "*" if disagree else ""


def range_text(row: Mapping[str, object], column: str, unit: str) -> str:
    """A metric's model range as shown in text, ``[0.41-0.95]`` (each end through
    :func:`format_value`); for the mTORC2 verdict each model's label when they disagree,
    else ``all <label>``; '' without a range."""
    if column == QUANTITIES["mTORC2 verdict"].column and "mtorc2_verdict_by_model" in row:
        if verdict_mark(row, column):
            return str(row["mtorc2_verdict_by_model"])
        return f"all {row[column]}"
    return _span_text(row, column, unit, LOW, HIGH)


def _span_text(row: Mapping[str, object], column: str, unit: str, low: str, high: str) -> str:
    if column + low not in row or pd.isna(row[column + low]):
        return ""
    return f"[{format_value(row[column + low], unit)}-{format_value(row[column + high], unit)}]"


def interval_text(row: Mapping[str, object], column: str, unit: str) -> str:
    """A metric's population interval as shown in text, ``[0.21-1.4]``; for the mTORC2
    verdict the share of subjects per verdict; '' without one."""
    if column == QUANTITIES["mTORC2 verdict"].column and "mtorc2_spared_fraction" in row:
        shares = [(v, 100 * float(row[f"mtorc2_{v}_fraction"])) for v in VERDICT_LABELS]
        # "<1 %" rather than "0 %" for a verdict some subject does get (">99 %" for 100).
        return ", ".join(f"{'<1' if x < 0.5 else '>99' if 99.5 <= x < 100 else format(x, '.0f')}"
                         f" % {v}" for v, x in shares if x > 0)
    return _span_text(row, column, unit, P5, P95)


def _scenario_frame(scn: Scenario, metrics: Sequence[str] | None, basis: Basis
                    ) -> pd.DataFrame:
    """One evaluation of a scenario: identity columns, then one column per metric."""
    vals = evaluate(scn, metrics, basis)
    n = scn.n_subjects
    ident = {"regimen": str(scn.regimen), "drug": scn.regimen.drug,
             "model": scn.model.name, "species": scn.model.species,
             "comedication": "+".join(scn.comedication), "basis": basis.label,
             "window_h": basis.length_h, "id": np.arange(1, n + 1)}
    return pd.DataFrame({**{c: ident[c] for c in ID_COLUMNS}, **vals}, index=range(n))


def with_model_range(own: pd.DataFrame, others: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``own`` (one scenario's rows) with the model range over it and ``others`` (the same
    regimen and subjects under other models): after each numeric metric column its lowest
    and highest value (models that do not define a metric, such as plasma for a
    whole-blood model, are left out of its range), then ``range_models`` (own model
    first) and, with the verdict, each model's verdict and whether they disagree."""
    every = [own, *others]
    out = own.copy()
    for col in [c for c in own.columns if c in _REGISTERED]:
        if quantity(col).unit in ("label", "text"):
            continue
        values = np.stack([f[col].to_numpy(float) for f in every])
        # fmin/fmax skip NaN without warning; NaN only where no model defines it.
        at = out.columns.get_loc(col) + 1
        out.insert(at, col + LOW, np.fmin.reduce(values, axis=0))
        out.insert(at + 1, col + HIGH, np.fmax.reduce(values, axis=0))
    names = [str(f["model"].iloc[0]) for f in every]
    out["range_models"] = ",".join(names)
    verdict = QUANTITIES["mTORC2 verdict"].column
    if verdict in own:
        labels = np.stack([f[verdict].to_numpy(object) for f in every], axis=1)
        out["mtorc2_verdict_by_model"] = [", ".join(f"{m} {v}" for m, v in zip(names, row,
                                                                                strict=True))
                                          for row in labels]
        out["mtorc2_models_disagree"] = [len(set(row)) > 1 for row in labels]
    return out


def with_population_interval(own: pd.DataFrame, population: pd.DataFrame, name: str
                             ) -> pd.DataFrame:
    """``own`` (one scenario's rows) with, after each numeric metric column (and its model
    range), the 5th and 95th percentile of the metric over ``population`` (the same
    regimen and model in virtual subjects; undefined values left out), then the
    population's name and size and, with the verdict, the share of its subjects per
    mTORC2 verdict."""
    out = own.copy()
    for col in [c for c in own.columns if c in _REGISTERED]:
        if quantity(col).unit in ("label", "text"):
            continue
        x = population[col].to_numpy(float)
        x = x[np.isfinite(x)]
        lo, hi = np.percentile(x, POPULATION_PERCENTILES) if x.size else (np.nan, np.nan)
        at = out.columns.get_loc(col) + 1 + sum(col + e in out for e in (LOW, HIGH))
        out.insert(at, col + P5, lo)
        out.insert(at + 1, col + P95, hi)
    out["population"], out["population_n"] = name, len(population)
    verdict = QUANTITIES["mTORC2 verdict"].column
    if verdict in population:
        labels = population[verdict].to_numpy(object)
        for v in VERDICT_LABELS:
            out[f"mtorc2_{v}_fraction"] = float(np.mean(labels == v))
    return out


def exposure_table(scenarios: Sequence[Scenario], metrics: Sequence[str] | None = None,
                   window_h: tuple[float, float] | None = None,
                   extra: Sequence[Mapping[str, object]] = (),
                   alternatives: Sequence[Sequence[Scenario]] | None = None,
                   populations: Sequence[Scenario] | None = None,
                   population_name: str = "") -> ExposureTable:
    """Evaluate scenarios into one table (one row per scenario and subject).

    ``extra`` adds constant columns per scenario (e.g. a reference name), placed first.
    ``alternatives`` gives, per scenario, the same regimen and subjects bound to the other
    models valid for it (``pkdose.comparison.alternative_scenarios``): each is evaluated
    once, like its scenario, and the table carries the model range
    (:func:`with_model_range`) and every model's rows (``to_frame(models=True)``).
    ``populations`` gives, per scenario, its regimen and model bound to virtual subjects
    of the population ``population_name`` (``pkdose.population.population_scenario``):
    each row then carries the population interval (:func:`with_population_interval`).
    """
    parts, by_model = [], []
    for k, scn in enumerate(scenarios):
        basis: Basis = basis_for(scn.regimen, window_h)
        df = _scenario_frame(scn, metrics, basis)
        if alternatives is not None:
            others = [_scenario_frame(alt, metrics, basis) for alt in alternatives[k]]
            by_model += [f.assign(primary=f is df) for f in (df, *others)]
            df = with_model_range(df, others)
        if populations is not None:
            pop = _scenario_frame(populations[k], metrics, basis)
            df = with_population_interval(df, pop, population_name)
        for key, value in (extra[k] if extra else {}).items():
            df.insert(0, key, value)
        parts.append(df)
    if not parts:
        cols = [*ID_COLUMNS, *(quantity(m).column for m in (metrics or ()))]
        return ExposureTable(pd.DataFrame(columns=cols))
    return ExposureTable(pd.concat(parts, ignore_index=True),
                         pd.concat(by_model, ignore_index=True) if by_model else None)
