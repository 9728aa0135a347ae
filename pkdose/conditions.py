"""Conditions of the subject as cited fold-changes on the model parameters.

Food, liver impairment (Child-Pugh class), CYP3A5 genotype and race are covariates of the
subject: one column each of the covariate table (``fed``, ``child_pugh``,
``cyp3a5_expresser``, ``race_black``), so they can differ between the subjects of a
population. ``pkdose/data/conditions.toml`` holds, per drug, condition and level, the
numbers as the source reports them; :func:`apply_conditions` turns them into factors on
the solver-level parameters where the individual parameters are built, next to the
co-medications of :mod:`pkdose.interactions`, and with the same derivation methods:

* ``clearance``, ``cmax_auc``, ``bioavailability`` ...: factors on ``cl`` and ``f`` as
  :class:`pkdose.interactions.Interaction` computes them (one implementation for both);
* ``absorption`` (a meal): the factor on F, on the absorption rate (``ka``, ``ktr`` or
  ``vm``; ``tk0`` divided) and the lag time are *solved* for each model so that its
  single-dose AUC, Cmax and Tmax ratios for the typical subject equal the cited ones
  (:func:`absorption_factors`; docs/conditions.md shows predicted against cited).

Code 0 of every condition is the model's own typical subject (fasted, no liver
impairment, CYP3A5 non-expresser, not Black); a model that already carries the condition
as a covariate effect gets it from that effect only, never twice.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

import numpy as np
import pandas as pd

from pkdose.errors import ConditionWarning, PkdoseError
from pkdose.interactions import METHODS, Interaction

__all__ = [
    "Condition",
    "Effect",
    "Factors",
    "absorption_factors",
    "apply_conditions",
    "condition_columns",
    "conditions",
    "effect_factors",
    "effects",
    "encode_condition",
    "find_effect",
    "list_conditions",
    "model_conditions",
    "predicted_ratios",
    "regimen_subjects",
]

_DATA = "conditions.toml"
#: Grid of the single-dose curves the absorption factors are solved on: 0.01 h to 72 h
#: (Tmax to +-0.005 h), then 600 geometric points to 10,000 h (AUC to well beyond 60
#: terminal half-lives of every shipped model).
_FINE_H = np.linspace(0.0, 72.0, 7201)
_GRID_H = np.concatenate([_FINE_H, np.geomspace(72.5, 1.0e4, 600)])
#: Window (h after a single dose) where the terminal half-life is read off the curve.
_TERMINAL_H = (400.0, 800.0)
#: Bracket of the log absorption-rate factor searched for a Cmax ratio.
_LOG_RATE_BRACKET = (-6.0, 6.0)
#: Absorption structures where a meal's lag time can be added to every dose.
_LAG_STRUCTURES = ("first_order", "transit")


def _key(text: object) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text).strip()).casefold()


@dataclass(frozen=True)
class Condition:
    """A condition of the subject: its covariate column and the words for its levels."""

    name: str
    column: str
    description: str
    levels: Mapping[str, int]
    overlaps: tuple[str, ...] = ()
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Factors:
    """Fold-changes on the solver parameters of a subject with a condition.

    ``cl`` and ``f`` multiply clearance and bioavailability; ``absorption`` multiplies the
    absorption rate (``ka``, ``ktr``, ``vm``; divides ``tk0``); ``lag_h`` is added to the
    lag time.
    """

    cl: float = 1.0
    f: float = 1.0
    absorption: float = 1.0
    lag_h: float = 0.0


@dataclass(frozen=True)
class Effect:
    """One cited effect of a condition level on one drug, numbers as the source gives them."""

    drug: str
    condition: str
    level: int
    method: str
    method_reason: str
    population: str = ""
    n: int | None = None
    formulation: str = ""
    auc_ratio: float | None = None
    auc_range: tuple[float, float] | None = None
    cmax_ratio: float | None = None
    clf_ratio: float | None = None
    trough_ratio: float | None = None
    t_half_h: tuple[float, float] | None = None
    tmax_ratio: float | None = None
    tmax_delay_h: float | None = None
    dose_mg: float | None = None
    dose_choice: str = ""
    advice: str = ""
    covariate_note: str = ""
    notes: tuple[str, ...] = ()
    source: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def as_interaction(self) -> Interaction:
        """The same numbers as an :class:`~pkdose.interactions.Interaction`, whose
        ``cl_factor`` and ``f_factor`` are the factors of every method but ``absorption``."""
        return Interaction(
            drug=self.drug, comedication=self.label, method=self.method,
            method_reason=self.method_reason, auc_ratio=self.auc_ratio,
            cmax_ratio=self.cmax_ratio, clf_ratio=self.clf_ratio,
            trough_ratio=self.trough_ratio, t_half_h=self.t_half_h, source=self.source)

    @property
    def label(self) -> str:
        """E.g. ``child_pugh B`` or ``fed``."""
        cond = conditions()[self.condition]
        words = [w for w, c in cond.levels.items() if c == self.level]
        word = words[0] if words else str(self.level)
        named = {"child_pugh": f"Child-Pugh {word.upper()}", "cyp3a5": "CYP3A5 expresser",
                 "race": "Black race"}
        return named.get(self.condition, word)

    @property
    def citation(self) -> str:
        """Short source name with its identifiers."""
        ids = [f"doi:{self.source['doi']}" if self.source.get("doi") else "",
               f"PMID {self.source['pmid']}" if self.source.get("pmid") else ""]
        extra = "; ".join(i for i in ids if i)
        return self.source.get("short", "") + (f" ({extra})" if extra else "")


_NUMBERS = ("auc_ratio", "cmax_ratio", "clf_ratio", "trough_ratio", "tmax_ratio",
            "tmax_delay_h", "dose_mg")
_KEYS = {*_NUMBERS, "drug", "condition", "level", "method", "method_reason", "population",
         "n", "formulation", "auc_range", "auc_range_type", "t_half_h", "dose_choice",
         "advice", "covariate_note", "notes", "source"}


def _effect(i: int, row: Mapping, conds: Mapping[str, Condition]) -> Effect:
    where = (f"pkdose/data/{_DATA}: effect[{i}] "
             f"({row.get('drug', '?')}, {row.get('condition', '?')})")
    unknown = sorted(set(row) - _KEYS)
    if unknown:
        raise PkdoseError(f"{where}: unknown key '{unknown[0]}'")
    for key in ("drug", "condition", "level", "method", "method_reason", "source"):
        if key not in row:
            raise PkdoseError(f"{where}: missing key '{key}'")
    if row["condition"] not in conds:
        raise PkdoseError(f"{where}: condition has no [condition.NAME] table")
    if row["level"] not in set(conds[row["condition"]].levels.values()) - {0}:
        raise PkdoseError(f"{where}: level {row['level']!r} is not a non-zero level code")
    if row["method"] not in (*METHODS, "absorption"):
        raise PkdoseError(f"{where}: unknown method {row['method']!r}")
    for key in _NUMBERS:
        v = row.get(key)
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                  and math.isfinite(v) and v > 0):
            raise PkdoseError(f"{where}: key '{key}' must be a positive number")
    if row["method"] == "absorption" and not (row.get("auc_ratio") and row.get("cmax_ratio")
                                              and row.get("dose_mg")):
        raise PkdoseError(f"{where}: method 'absorption' needs auc_ratio, cmax_ratio, dose_mg")
    source = dict(row["source"])
    if not any(source.get(k) for k in ("doi", "pmid", "label")):
        raise PkdoseError(f"{where}: [effect.source] needs a doi, pmid or label")
    pair = row.get("auc_range")
    return Effect(
        drug=row["drug"], condition=row["condition"], level=int(row["level"]),
        method=row["method"], method_reason=str(row["method_reason"]),
        population=str(row.get("population", "")), n=row.get("n"),
        formulation=str(row.get("formulation", "")),
        auc_range=tuple(pair) if pair else None,
        t_half_h=tuple(row["t_half_h"]) if "t_half_h" in row else None,
        dose_choice=str(row.get("dose_choice", "")), advice=str(row.get("advice", "")),
        covariate_note=str(row.get("covariate_note", "")), notes=tuple(row.get("notes", ())),
        source=MappingProxyType(source),
        **{k: (float(row[k]) if k in row else None) for k in _NUMBERS},
    )


@cache
def _load() -> tuple[Mapping[str, Condition], tuple[Effect, ...]]:
    from pkdose.data import load_toml

    raw = load_toml(_DATA)
    conds = {name: Condition(name, str(spec["column"]), str(spec.get("description", "")),
                             MappingProxyType({_key(w): int(c)
                                               for w, c in spec["levels"].items()}),
                             tuple(spec.get("overlaps", ())), tuple(spec["levels"]))
             for name, spec in raw["condition"].items()}
    rows = tuple(_effect(i, r, conds) for i, r in enumerate(raw.get("effect", ()), 1))
    seen = set()
    for e in rows:
        if (e.drug, e.condition, e.level) in seen:
            raise PkdoseError(f"pkdose/data/{_DATA}: {e.drug} {e.condition} level {e.level} "
                              "appears twice")
        seen.add((e.drug, e.condition, e.level))
    return MappingProxyType(conds), rows


def conditions() -> Mapping[str, Condition]:
    """The conditions by name (``fed``, ``child_pugh``, ``cyp3a5``, ``race``)."""
    return _load()[0]


def effects() -> tuple[Effect, ...]:
    """Every cited effect, in file order."""
    return _load()[1]


def condition_columns() -> dict[str, str]:
    """Covariate column -> condition name."""
    return {c.column: name for name, c in conditions().items()}


def find_effect(drug: str, condition: str, level: int) -> Effect | None:
    """The cited effect of ``condition`` at ``level`` on ``drug``, or None if none is known."""
    for e in effects():
        if e.drug == drug and e.condition == condition and e.level == level:
            return e
    return None


def encode_condition(column: str, values: pd.Series) -> pd.Series:
    """A condition column as level codes: words (``B``, ``*1/*3``, ``black``, ``fed``) or
    the codes themselves.

    Raises
    ------
    PkdoseError
        A value that names no level; the message lists the words.
    """
    cond = conditions()[condition_columns()[column]]
    codes_of = dict(cond.levels)
    allowed = set(codes_of.values())
    # Mapped once per distinct value, not per subject (populations of 100,000 rows); the
    # values are made text only then (astype(str) of a whole float column of 10,000 rows
    # cost 2 ms per condition, a tenth of simulating the subjects).
    idx, spellings = pd.factorize(values, use_na_sentinel=False)
    out = []
    for s in spellings:
        k = _key(str(s))
        code = codes_of.get(k)
        if code is None:
            try:
                num = float(k)
            except ValueError:
                num = math.nan
            code = int(num) if num in allowed else None
        if code is None:
            words = ", ".join(cond.words)
            raise PkdoseError(f"covariate {column}={s!r} names no level; give one of: {words}")
        out.append(code)
    return pd.Series(np.asarray(out, float)[idx], index=values.index)


# --- factors ------------------------------------------------------------------------------


def _scaled(params: Mapping[str, np.ndarray], mask: np.ndarray, fac: Factors
            ) -> dict[str, np.ndarray]:
    """A copy of ``params`` with ``fac`` applied to the subjects in ``mask``."""
    out = dict(params)

    def scale(key: str, factor: float, add: bool = False) -> None:
        if key not in out or (factor == (0.0 if add else 1.0)):
            return
        v = np.array(out[key], dtype=float, copy=True)
        if add:
            v[mask] += factor
        else:
            v[mask] *= factor
        out[key] = v

    scale("cl", fac.cl)
    scale("f", fac.f)
    for key in ("ka", "ktr", "vm"):
        scale(key, fac.absorption)
    scale("tk0", 1.0 / fac.absorption)
    scale("tlag", fac.lag_h, add=True)
    return out


def _typical_curve(model, dose_mg: float, fac: Factors, times_h: np.ndarray = _GRID_H
                   ) -> np.ndarray:
    """Whole-blood curve of the typical subject after one oral dose, at ``times_h``."""
    from pkdose.regimen_text import parse_regimen
    from pkdose.simulation import Prepared, concentrations, prepare
    from pkdose.solver import build_system

    base = prepare(model, None)
    p = _scaled(base.params, np.ones(1, bool), fac)
    prep = Prepared(model, base.cov, p, build_system(p, model.n_chain))
    reg = parse_regimen(f"{model.drug} {dose_mg:.17g} mg once")
    return concentrations(prep, reg.trains(), times_h)["conc_ng_ml"][0]


def _summary(conc: np.ndarray) -> tuple[float, float, float]:
    """(AUC to 10,000 h, Cmax, Tmax) of a curve on ``_GRID_H``."""
    fine = conc[: _FINE_H.size]
    i = int(np.argmax(fine))
    return float(np.trapezoid(conc, _GRID_H)), float(fine[i]), float(_FINE_H[i])


def _peak(model, dose_mg: float, fac: Factors) -> tuple[float, float]:
    """(Cmax, Tmax) of the typical subject's single-dose curve, on the 0.01 h grid."""
    fine = _typical_curve(model, dose_mg, fac, _FINE_H)
    i = int(np.argmax(fine))
    return float(fine[i]), float(_FINE_H[i])


@dataclass(frozen=True)
class Solved:
    """Factors solved for one model and the ratios they give, beside the cited ones."""

    factors: Factors
    auc_ratio: float
    cmax_ratio: float
    tmax_ratio: float
    tmax_delay_h: float
    reproduced: tuple[str, ...]
    missed: tuple[str, ...]


def _cache_key(model) -> tuple:
    return (model.name, model.path,
            tuple(sorted((k, v.value) for k, v in model.parameters.items())))


_SOLVED: dict[tuple, Solved] = {}
#: Relative tolerance of the solved AUC and Cmax ratios.
SOLVE_RTOL = 1e-9


def absorption_factors(model, effect: Effect) -> Solved:
    """Factors on F, the absorption rate and the lag time that make ``model``'s single-dose
    ratios (typical subject, ``effect.dose_mg``) equal the cited ones.

    The log absorption-rate factor is found by Brent's method on the Cmax ratio, then F
    from the AUC ratio (exact in one step for a model whose blood AUC is proportional to
    the absorbed dose; the saturable red-cell binding of ter Heine 2018 needs a few
    alternations), both to :data:`SOLVE_RTOL`; then the lag time from the Tmax ratio or
    delay where the model's absorption takes a lag (first-order, transit). A ratio that
    cannot be reached (a lag would have to be negative, a Cmax beyond instant absorption,
    a model without a lag) is listed in ``missed`` and the nearest value is used.
    """
    from scipy.optimize import brentq

    key = (_cache_key(model), effect.drug, effect.condition, effect.level)
    if key in _SOLVED:
        return _SOLVED[key]
    dose = effect.dose_mg
    auc0, cmax0, tmax0 = _summary(_typical_curve(model, dose, Factors()))
    missed: list[str] = []
    f, log_s = effect.auc_ratio, 0.0

    def cmax_gap(ls: float) -> float:
        return math.log(_peak(model, dose, Factors(f=f, absorption=math.exp(ls)))[0]
                        / cmax0 / effect.cmax_ratio)

    for _ in range(6):
        lo, hi = _LOG_RATE_BRACKET
        g_lo, g_hi = cmax_gap(lo), cmax_gap(hi)
        reachable = g_lo * g_hi < 0
        log_s = (brentq(cmax_gap, lo, hi, xtol=1e-12, rtol=1e-12) if reachable
                 else lo if abs(g_lo) < abs(g_hi) else hi)
        auc = _summary(_typical_curve(model, dose, Factors(f=f, absorption=math.exp(log_s))))[0]
        gap = effect.auc_ratio / (auc / auc0)
        f *= gap
        if abs(gap - 1.0) < SOLVE_RTOL:
            break
    if not reachable:
        missed.append("Cmax")
    s = math.exp(log_s)
    tmax_s = _peak(model, dose, Factors(f=f, absorption=s))[1]
    lag = 0.0
    want = (tmax0 * effect.tmax_ratio if effect.tmax_ratio
            else tmax0 + effect.tmax_delay_h if effect.tmax_delay_h else None)
    if want is not None:
        if model.absorption in _LAG_STRUCTURES and want >= tmax_s:
            lag = want - tmax_s
        else:
            missed.append("Tmax")
    # The lag moves the curve against the grid, and with it the trapezoid AUC of a sharp
    # peak by up to 2e-4 (golubovic2019's instant absorption): F takes that up once more.
    auc_lag = _summary(_typical_curve(model, dose, Factors(f=f, absorption=s, lag_h=lag)))[0]
    fac = Factors(f=f * effect.auc_ratio / (auc_lag / auc0), absorption=s, lag_h=lag)
    auc1, cmax1, tmax1 = _summary(_typical_curve(model, dose, fac))
    asked = ("AUC", "Cmax", *(("Tmax",) if want is not None else ()))
    out = Solved(fac, auc1 / auc0, cmax1 / cmax0, tmax1 / tmax0, tmax1 - tmax0,
                 tuple(a for a in asked if a not in missed), tuple(missed))
    _SOLVED[key] = out
    return out


def effect_factors(model, effect: Effect) -> Factors:
    """The factors ``effect`` applies to subjects of ``model``."""
    if effect.method == "absorption":
        return absorption_factors(model, effect).factors
    inter = effect.as_interaction
    return Factors(cl=inter.cl_factor, f=inter.f_factor)


def predicted_ratios(model, effect: Effect) -> dict[str, float]:
    """Single-dose ratios (with/without) the model predicts for its typical subject:
    ``auc``, ``cmax``, ``tmax`` and ``t_half`` (terminal half-life, read between 400 and
    800 h), and ``tmax_delay_h``; at the study's dose (5 mg where none is given)."""
    dose = effect.dose_mg or 5.0
    base = _typical_curve(model, dose, Factors())
    cond = _typical_curve(model, dose, effect_factors(model, effect))
    (a0, c0, t0), (a1, c1, t1) = _summary(base), _summary(cond)
    i, j = np.searchsorted(_GRID_H, _TERMINAL_H)

    def t_half(c: np.ndarray) -> float:
        return math.log(2) * (_GRID_H[j] - _GRID_H[i]) / math.log(c[i] / c[j])

    return {"auc": a1 / a0, "cmax": c1 / c0, "tmax": t1 / t0, "tmax_delay_h": t1 - t0,
            "t_half": t_half(cond) / t_half(base)}


# --- applying them ------------------------------------------------------------------------


def regimen_subjects(regimen, subjects):
    """``subjects`` with the regimen's food state (``with food`` / ``fasted``) as their
    ``fed`` covariate; unchanged when the regimen does not say. A mapping, a DataFrame
    (every row) or None (the typical subject)."""
    if getattr(regimen, "fed", None) is None:
        return subjects
    code = 1.0 if regimen.fed else 0.0
    if subjects is None:
        return {"fed": code}
    if isinstance(subjects, Mapping):
        return {**subjects, "fed": code}
    return subjects.assign(fed=code)


def _recorded(model) -> tuple[str, ...]:
    rec = model.population.get("recorded", ())
    return tuple(rec) if isinstance(rec, (list, tuple)) else ()


def apply_conditions(params: Mapping[str, np.ndarray], model, cov: pd.DataFrame
                     ) -> dict[str, np.ndarray]:
    """Individual parameters with each subject's conditions applied.

    Parameters
    ----------
    params : mapping of str to ndarray
        Output of :func:`pkdose.model.individual_parameters` (not modified).
    model : pkdose.model.Model
    cov : DataFrame
        The subjects' covariates; condition columns hold level codes (0 = none).

    Returns
    -------
    dict of str to ndarray
        A copy with the factors of every subject's conditions applied to its row.

    Warns
    -----
    ConditionWarning
        A condition with no cited effect for the drug (not applied), a model whose
        population did not record the condition, a model covariate that overlaps it, and
        the label's dose advice.
    """
    out = dict(params)
    for column, name in condition_columns().items():
        if column not in cov.columns:
            continue
        codes = cov[column].to_numpy(dtype=float)
        if not codes.any():
            continue
        cond = conditions()[name]
        if any(e.covariate == column for e in model.effects):
            continue  # the model's own covariate effect already carries it
        for code in np.unique(codes[codes != 0]):
            effect = find_effect(model.drug, name, int(code))
            if effect is None:
                words = [w for w, c in cond.levels.items() if c == code]
                warnings.warn(f"no cited effect of {name}={words[0] if words else code} on "
                              f"{model.drug}: not applied (docs/conditions.md)",
                              ConditionWarning, stacklevel=2)
                continue
            out = _scaled(out, codes == code, effect_factors(model, effect))
            _warn_applied(model, cond, effect)
    return out


def _warn_applied(model, cond: Condition, effect: Effect) -> None:
    if effect.method == "absorption":
        solved = absorption_factors(model, effect)
        if solved.missed:
            got = {"Cmax": f"Cmax x {solved.cmax_ratio:.3g}",
                   "Tmax": f"Tmax {solved.tmax_delay_h:+.2g} h"}
            warnings.warn(f"{effect.label} ({model.drug}): model {model.name} cannot "
                          f"reproduce the cited {' and '.join(solved.missed)} "
                          f"({effect.citation}); it predicts "
                          f"{', '.join(got[m] for m in solved.missed)} (docs/conditions.md)",
                          ConditionWarning, stacklevel=3)
    if cond.name not in _recorded(model):
        note = f"; {effect.covariate_note}" if effect.covariate_note else ""
        warnings.warn(f"{effect.label} ({model.drug}): model {model.name}'s population did "
                      f"not record it; the cited fold-changes ({effect.citation}) are "
                      f"applied to its typical subject{note}", ConditionWarning, stacklevel=3)
    overlap = sorted({e.covariate for e in model.effects if e.covariate in cond.overlaps})
    if overlap:
        warnings.warn(f"{effect.label}: model {model.name} also changes clearance through "
                      f"{', '.join(overlap)}; with both set, liver impairment may be counted "
                      "twice", ConditionWarning, stacklevel=3)
    if effect.advice:
        warnings.warn(f"{effect.label} ({model.drug}), label dose advice: {effect.advice}",
                      ConditionWarning, stacklevel=3)


def model_conditions(model) -> str:
    """One line for ``pkdose models``: the conditions with cited data for the model's drug,
    and which its population recorded or its covariates carry."""
    parts = []
    for name, cond in conditions().items():
        levels = [e for e in effects() if e.drug == model.drug and e.condition == name]
        if not levels:
            continue
        how = ("its own covariate" if any(e.covariate == cond.column for e in model.effects)
               else "recorded in its population" if name in _recorded(model)
               else "cited factors, population did not record it")
        parts.append(f"{'/'.join(e.label for e in levels)} ({how})")
    return "; ".join(parts) + " (docs/conditions.md)" if parts else "none with cited data"


def list_conditions(drug: str | None = None) -> pd.DataFrame:
    """Cited effects as a table: drug, condition, level, label, method, cited ratios, factors
    on CL and F (absorption: solved per model, see :func:`absorption_factors`), advice,
    citation."""
    rows = []
    for e in effects():
        if drug is not None and e.drug != drug:
            continue
        inter = e.as_interaction if e.method != "absorption" else None
        rows.append({
            "drug": e.drug, "condition": e.condition, "level": e.level, "label": e.label,
            "method": e.method, "auc_ratio": e.auc_ratio, "cmax_ratio": e.cmax_ratio,
            "clf_ratio": e.clf_ratio, "tmax_ratio": e.tmax_ratio,
            "tmax_delay_h": e.tmax_delay_h,
            "cl_factor": inter.cl_factor if inter else None,
            "f_factor": inter.f_factor if inter else None,
            "advice": e.advice, "citation": e.citation,
        })
    return pd.DataFrame(rows)
