"""External validation: shipped models against published observations.

The observations live in ``pkdose/data/observations.toml`` with their citations, the
population and regimen as reported, and an a priori tolerance per row. For every row the
default model can address (``comparable = true``), :func:`validation_table` simulates the
typical subject of the drug's default model, and of every alternative shipped model for that
drug, adjusted to the reported population (covariates the source gives), computes the
quantity the observation reports and says whether it falls in the tolerance interval.

The predictions are typical values (all random effects zero), so the tolerance intervals are
built from the *observed* spread (see ``docs/validation.md``, "Tolerance policy").
Population-percentile intervals, which compare the observed value with the spread of a
simulated population, will be added when the population module lands.

``docs/validation.md`` is generated from this module by ``scripts/gen_validation_doc.py``.
"""

from __future__ import annotations

import math
import re
import tomllib
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.integrate import simpson

from pkdose.children import is_paediatric, paediatric_model
from pkdose.drugs import resolve_drug
from pkdose.engine import bind, evaluate, scenario
from pkdose.errors import ExtrapolationWarning, PkdoseError
from pkdose.model import Model, builtin_models, covariate_table, get_model
from pkdose.regimen import Regimen, compile_trains
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import (
    Prepared,
    check_extrapolation,
    concentrations,
    dose_amounts,
    prepare,
    steady_state_trains,
)

#: Fine grid step over the absorption phase when integrating a single-dose curve to
#: infinity: 0.02 h resolves the ~0.1 h transit stages of ter Heine 2018.
AUC_FINE_STEP_H = 0.02
#: Hours after the last dose covered by the fine grid; absorption is over by then for
#: every shipped model at the doses in the table (Wu 2012 tmax is 16 h even at 90 mg).
AUC_FINE_SPAN_H = 48.0
#: The curve is integrated to this many terminal half-lives after the last dose and the
#: rest extrapolated as C_last / lambda_z, which is then < 0.1 % of the total.
AUC_TAIL_HALF_LIVES = 10.0

TOLERANCE_RULES = ("sd", "cv", "range", "iqr", "factor")


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Tolerance:
    """An a priori pass interval for a typical-value prediction.

    Attributes
    ----------
    rule : {"sd", "cv", "range", "iqr", "factor"}
        How the interval is built from the observation (see :func:`tolerance_bounds`).
    params : mapping
        The rule's numbers (``sd``/``k``, ``cv_pct``/``k``, ``low``/``high``, ``factor``).
    reason : str
        Why this rule for this row, written before predictions were compared.
    """

    rule: str
    params: Mapping[str, float]
    reason: str = ""

    def describe(self) -> str:
        """Short human-readable form, e.g. ``mean ± 2 SD``."""
        p = self.params
        if self.rule == "sd":
            return f"mean ± {p['k']:g} SD"
        if self.rule == "cv":
            return f"×/÷ exp({p['k']:g} ω), CV {p['cv_pct']:g} %"
        if self.rule == "range":
            return "reported range"
        if self.rule == "iqr":
            return "interquartile range"
        return f"×/÷ {p['factor']:g}"


@dataclass(frozen=True)
class Observation:
    """One published number and how pkdose addresses it (one ``[[observation]]`` table)."""

    id: str
    origin: str
    drug: str
    regimen: str
    regimen_reported: str
    population: str
    metric_reported: str
    metric: str
    value: float
    unit: str
    central: str
    spread: str
    comparable: bool
    source: str
    source_short: str
    n: int | None = None
    subject: Mapping[str, object] = field(default_factory=dict)
    subject_note: str = ""
    value_reported: str = ""
    reason: str = ""
    tolerance: Tolerance | None = None
    note: str = ""
    uncertain: bool = False
    known_discrepancy: Mapping[str, str] = field(default_factory=dict)

    @property
    def bounds(self) -> tuple[float, float]:
        """The pass interval (low, high) in the observation's unit."""
        if self.tolerance is None:
            raise PkdoseError(f"observation {self.id} has no tolerance")
        return tolerance_bounds(self.value, self.tolerance)


def tolerance_bounds(value: float, tol: Tolerance) -> tuple[float, float]:
    """Pass interval for an observed ``value`` under a tolerance rule.

    ``sd``: value ± k·SD, floored at 0 (the quantities are positive). ``cv``: the central
    95 %-type range of a log-normal with that CV, value·exp(±k·sqrt(ln(1 + CV²))). ``range``
    and ``iqr``: the reported limits. ``factor``: [value / f, value · f].
    """
    p = tol.params
    if tol.rule == "sd":
        return max(value - p["k"] * p["sd"], 0.0), value + p["k"] * p["sd"]
    if tol.rule == "cv":
        w = p["k"] * math.sqrt(math.log1p((p["cv_pct"] / 100.0) ** 2))
        return value * math.exp(-w), value * math.exp(w)
    if tol.rule in ("range", "iqr"):
        return float(p["low"]), float(p["high"])
    if tol.rule == "factor":
        return value / p["factor"], value * p["factor"]
    raise PkdoseError(f"unknown tolerance rule {tol.rule!r}; use one of {TOLERANCE_RULES}")


# --------------------------------------------------------------------------- quantities


def _weight(prep: Prepared) -> np.ndarray:
    return prep.cov["weight_kg"].to_numpy(float)


def terminal_half_life_h(prep: Prepared) -> np.ndarray:
    """Terminal half-life ln 2 / lambda_z from the slowest disposition eigenvalue.

    For ter Heine 2018 this is the plasma terminal phase; whole blood follows it once
    plasma concentrations are far below the red-cell Kd (92 ng/mL), i.e. in every terminal
    phase at clinical doses.
    """
    return math.log(2.0) / prep.system.lam[:, -1]


def _total_dose_mg(reg: Regimen, prep: Prepared) -> np.ndarray:
    total = np.zeros(len(prep.cov))
    for tr in compile_trains(reg):
        total += dose_amounts(tr, prep.cov) * tr.n
    return total


def auc_inf_ng_h_ml(prep: Prepared, reg: Regimen) -> np.ndarray:
    """Whole-blood AUC from the first dose to infinity of a regimen that stops.

    Integrated numerically (Simpson on a fine grid over absorption, a coarser one after)
    so that non-linear absorption and red-cell binding are honoured, plus the tail
    ``C_last / lambda_z``.
    """
    if reg.is_indefinite:
        raise PkdoseError("AUC0-inf needs a regimen that stops (e.g. '2 mg once')")
    trains = compile_trains(reg)
    last = max(tr.last_h for tr in trains)
    lam_z = prep.system.lam[:, -1]
    horizon = last + max(AUC_TAIL_HALF_LIVES * math.log(2.0) / float(lam_z.min()),
                         2 * AUC_FINE_SPAN_H)
    fine_end = last + AUC_FINE_SPAN_H
    t = np.unique(np.concatenate([
        np.arange(0.0, fine_end, AUC_FINE_STEP_H),
        np.linspace(fine_end, horizon, 4001),
    ]))
    c = concentrations(prep, trains, t)["conc_ng_ml"]
    return simpson(c, x=t, axis=1) + c[:, -1] / lam_z


def _exposure_column(column: str, steady_state: bool) -> Callable:
    def fn(prep: Prepared, reg: Regimen, model: Model) -> np.ndarray:
        if steady_state and not reg.is_indefinite:
            raise PkdoseError(f"{column} is a steady-state metric; give an endless regimen")
        return np.asarray(evaluate(bind(reg, prep), [column])[column], float)

    return fn


def _apparent_clearance(prep: Prepared, reg: Regimen, model: Model) -> np.ndarray:
    # CL/F as NCA measures it: dose over whole-blood AUC (0-inf for a single dose,
    # 0-tau at steady state), so non-linear blood binding is reflected as it would be.
    if reg.is_indefinite:
        trains, period, _ = steady_state_trains(reg)
        dose = sum(dose_amounts(tr, prep.cov) * (period / tr.ii_h) for tr in trains)
        auc = evaluate(bind(reg, prep), ["AUCtau"])["auctau_ng_h_ml"]
    else:
        dose = _total_dose_mg(reg, prep)
        auc = auc_inf_ng_h_ml(prep, reg)
    return 1000.0 * dose / auc  # mg / (ng h/mL) = 1000 L/h


def _apparent_volume_ss(prep: Prepared, reg: Regimen, model: Model) -> np.ndarray:
    # With saturable red-cell binding the whole-blood volume depends on concentration, so
    # a single Vss/F does not exist; NaN marks "not computable for this model".
    n = len(prep.cov)
    if model.blood != "none":
        return np.full(n, np.nan)
    p = prep.params
    return (p["v1"] + p.get("v2", np.zeros(n)) + p.get("v3", np.zeros(n))) / p["f"]


def _plasma_ratio(invert: bool) -> Callable:
    def fn(prep: Prepared, reg: Regimen, model: Model) -> np.ndarray:
        # NaN where the model predicts no plasma concentration.
        vals = evaluate(bind(reg, prep), ["Cavg", "plasma Cavg"])
        blood, plasma = vals["cavg_ng_ml"], vals["plasma_cavg_ng_ml"]
        return blood / plasma if invert else 100.0 * plasma / blood

    return fn


@dataclass(frozen=True)
class Quantity:
    """A predicted quantity an observation can be mapped to.

    ``units`` maps each accepted unit to the factor that converts the base value into it;
    ``per_kg`` units are also divided by the subject's body weight.
    """

    name: str
    label: str
    base_unit: str
    units: Mapping[str, float]
    definition: str
    compute: Callable[[Prepared, Regimen, Model], np.ndarray]
    per_kg: tuple[str, ...] = ()
    #: Why a model may be unable to predict it (compute returns NaN then).
    unavailable: str = ""

    def convert(self, base: np.ndarray, unit: str, prep: Prepared) -> np.ndarray:
        """Base-unit values in ``unit``."""
        out = base * self.units[unit]
        return out / _weight(prep) if unit in self.per_kg else out


_QUANTITIES = (
    Quantity("terminal_half_life", "terminal half-life", "h", {"h": 1.0},
             "ln 2 / lambda_z, lambda_z the slowest disposition eigenvalue of the typical "
             "subject (dose-independent for the shipped models).",
             lambda prep, reg, model: terminal_half_life_h(prep)),
    Quantity("apparent_clearance", "CL/F", "L/h", {"L/h": 1.0, "mL/h/kg": 1000.0},
             "Dose / whole-blood AUC0-inf (single dose) or dose per cycle / AUCtau (steady "
             "state); per kg with the simulated subject's weight.",
             _apparent_clearance, per_kg=("mL/h/kg",)),
    Quantity("apparent_volume_ss", "Vss/F", "L", {"L": 1.0, "L/kg": 1.0},
             "(V1 + V2) / F of the model (whole-blood models only); per kg with the "
             "subject's weight.",
             _apparent_volume_ss, per_kg=("L/kg",),
             unavailable="no single Vss/F with saturable red-cell binding"),
    Quantity("auc_inf", "AUC0-inf", "ng*h/mL", {"ng*h/mL": 1.0},
             "Whole-blood AUC from the first dose to infinity of a regimen that stops.",
             lambda prep, reg, model: auc_inf_ng_h_ml(prep, reg)),
    Quantity("cmax", "Cmax", "ng/mL", {"ng/mL": 1.0},
             "Whole-blood Cmax over one steady-state cycle, or the first week of a regimen "
             "that stops (pkdose.engine).",
             _exposure_column("cmax_ng_ml", steady_state=False)),
    Quantity("tmax", "Tmax", "h", {"h": 1.0},
             "Time of Cmax, same window as Cmax.",
             _exposure_column("tmax_h", steady_state=False)),
    Quantity("ctrough", "Ctrough,ss", "ng/mL", {"ng/mL": 1.0},
             "Whole-blood pre-dose concentration at steady state.",
             _exposure_column("ctrough_ng_ml", steady_state=True)),
    Quantity("auctau", "AUCtau,ss", "ng*h/mL", {"ng*h/mL": 1.0},
             "Whole-blood AUC over one steady-state cycle.",
             _exposure_column("auctau_ng_h_ml", steady_state=True)),
    Quantity("blood_plasma_ratio", "blood/plasma ratio", "ratio", {"ratio": 1.0},
             "Whole-blood Cavg / plasma Cavg over the window (models with plasma only).",
             _plasma_ratio(invert=True), unavailable="model has no plasma concentrations"),
    Quantity("plasma_fraction", "fraction in plasma", "%", {"%": 1.0},
             "100 x plasma Cavg / whole-blood Cavg over the window (models with plasma "
             "only).",
             _plasma_ratio(invert=False), unavailable="model has no plasma concentrations"),
)

#: Quantities an observation's ``metric`` can name, by key.
QUANTITIES: Mapping[str, Quantity] = MappingProxyType({q.name: q for q in _QUANTITIES})


# --------------------------------------------------------------------------- loading


def _tolerance(raw: Mapping, reason: str, where: str) -> Tolerance:
    rule = raw.get("rule")
    need = {"sd": ("sd", "k"), "cv": ("cv_pct", "k"), "range": ("low", "high"),
            "iqr": ("low", "high"), "factor": ("factor",)}
    if rule not in need:
        raise PkdoseError(f"{where}: tolerance rule must be one of {TOLERANCE_RULES}")
    missing = [k for k in need[rule] if k not in raw]
    if missing:
        raise PkdoseError(f"{where}: tolerance rule {rule} needs {', '.join(missing)}")
    params = {k: float(raw[k]) for k in need[rule]}
    if any(not (math.isfinite(v) and v >= 0) for v in params.values()):
        raise PkdoseError(f"{where}: tolerance numbers must be finite and non-negative")
    if rule == "factor" and params["factor"] <= 1.0:
        raise PkdoseError(f"{where}: a tolerance factor must exceed 1")
    if rule in ("range", "iqr") and params["low"] > params["high"]:
        raise PkdoseError(f"{where}: tolerance low must not exceed high")
    return Tolerance(rule, MappingProxyType(params), reason)


_REQUIRED = ("id", "origin", "drug", "regimen", "regimen_reported", "population",
             "metric_reported", "metric", "value", "unit", "central", "spread", "comparable",
             "source", "source_short")


def observation_from_dict(raw: Mapping, where: str = "observation") -> Observation:
    """Build and validate one :class:`Observation` from a parsed TOML table."""
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise PkdoseError(f"{where}: missing {', '.join(missing)}")
    where = f"observation {raw['id']}"
    drug = resolve_drug(raw["drug"])
    reg = parse_regimen(raw["regimen"])
    if reg.drug != drug:
        raise PkdoseError(f"{where}: regimen is for {reg.drug}, not {drug}")
    comparable = bool(raw["comparable"])
    metric = str(raw["metric"])
    tol = None
    if comparable:
        if metric not in QUANTITIES:
            raise PkdoseError(f"{where}: comparable rows need a metric in {list(QUANTITIES)}")
        if raw["unit"] not in QUANTITIES[metric].units:
            raise PkdoseError(f"{where}: unit {raw['unit']!r} not accepted for {metric}; "
                              f"use one of {list(QUANTITIES[metric].units)}")
        if "tolerance" not in raw or not raw.get("tolerance_reason"):
            raise PkdoseError(f"{where}: comparable rows need a tolerance and its reason")
        tol = _tolerance(raw["tolerance"], raw["tolerance_reason"], where)
        covariate_table(dict(raw.get("subject", {})))  # raises on unknown/implausible keys
    elif not raw.get("reason"):
        raise PkdoseError(f"{where}: rows that are not comparable need a reason")
    elif metric and metric not in QUANTITIES:
        raise PkdoseError(f"{where}: unknown metric {metric!r}")
    return Observation(
        id=raw["id"], origin=raw["origin"], drug=drug, regimen=raw["regimen"],
        regimen_reported=raw["regimen_reported"], population=raw["population"],
        metric_reported=raw["metric_reported"], metric=metric, value=float(raw["value"]),
        unit=raw["unit"], central=raw["central"], spread=raw["spread"],
        comparable=comparable, source=raw["source"], source_short=raw["source_short"],
        n=int(raw["n"]) if "n" in raw else None,
        subject=MappingProxyType(dict(raw.get("subject", {}))),
        subject_note=raw.get("subject_note", ""), value_reported=raw.get("value_reported", ""),
        reason=raw.get("reason", ""), tolerance=tol, note=raw.get("note", ""),
        uncertain=bool(raw.get("uncertain", False)),
        known_discrepancy=MappingProxyType(dict(raw.get("known_discrepancy", {}))),
    )


def load_observations(path: str | Path | None = None) -> tuple[Observation, ...]:
    """All observation rows, in file order (default: ``pkdose/data/observations.toml``)."""
    if path is None:
        with resources.files("pkdose.data").joinpath("observations.toml").open("rb") as fh:
            raw = tomllib.load(fh)
    else:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    rows = tuple(observation_from_dict(r) for r in raw.get("observation", []))
    ids = [r.id for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PkdoseError(f"duplicate observation id(s): {', '.join(dup)}")
    return rows


# --------------------------------------------------------------------------- prediction


@dataclass(frozen=True)
class Prediction:
    """A model's typical-value prediction for one observation.

    ``outside`` lists where the prediction leaves the model's source data (see
    :func:`outside_source_data`); ``note`` says why ``value`` is NaN when it is.
    """

    value: float
    outside: tuple[str, ...] = ()
    note: str = ""


_VALIDITY = (("age_y", "age", "y"), ("weight_kg", "weight", "kg"),
             ("hct_pct", "haematocrit", "%"))


def outside_source_data(model: Model, reg: Regimen, cov: pd.DataFrame) -> tuple[str, ...]:
    """Where a simulation leaves the dose and covariate ranges ``model`` was fitted to.

    The same facts :func:`pkdose.simulation.check_extrapolation` warns about, as short
    labels for tables (e.g. ``"dose 2 mg (fitted 5-10 mg)"``).
    """
    out = []
    doses = np.concatenate([dose_amounts(t, cov) for t in compile_trains(reg)])
    rng = model.validity("dose_mg")
    if rng and (doses.min() < rng[0] * (1 - 1e-9) or doses.max() > rng[1] * (1 + 1e-9)):
        lo, hi = float(doses.min()), float(doses.max())
        span = f"{lo:.3g}" if math.isclose(lo, hi) else f"{lo:.3g}-{hi:.3g}"
        out.append(f"dose {span} mg (fitted {rng[0]:g}-{rng[1]:g} mg)")
    for key, label, unit in _VALIDITY:
        rng = model.validity(key)
        vals = cov[key].to_numpy(float)
        if rng and np.any((vals < rng[0]) | (vals > rng[1])):
            out.append(f"{label} {vals.min():g} {unit} (fitted {rng[0]:g}-{rng[1]:g} {unit})")
    return tuple(out)


def predict(obs: Observation, model: Model) -> Prediction:
    """Predict an observation's quantity for the typical subject of ``model``.

    The subject is the pkdose typical subject with the covariates the observation reports
    (``obs.subject``); the regimen is ``obs.regimen``. Extrapolation (dose or covariates
    outside the model's source data) is returned in ``Prediction.outside``, not warned.
    """
    if model.drug != obs.drug:
        raise PkdoseError(f"model {model.name} is for {model.drug}, not {obs.drug}")
    q = QUANTITIES[obs.metric]
    reg = parse_regimen(obs.regimen)
    prep = prepare(model, dict(obs.subject))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        check_extrapolation(model, reg, prep.cov)  # still raises for unsupported routes
        value = float(q.convert(q.compute(prep, reg, model), obs.unit, prep)[0])
    note = "" if math.isfinite(value) else (q.unavailable or f"{q.label} not computable")
    return Prediction(value, outside_source_data(model, reg, prep.cov), note)


def _resolve_models(models: Iterable[Model | str] | None) -> list[Model]:
    if models is None:
        return list(builtin_models().values())
    return [m if isinstance(m, Model) else get_model(m) for m in models]


def _models_for(drug: str, models: list[Model]) -> list[Model]:
    # Default first, then alternatives by name, so the table reads default-first.
    return sorted((m for m in models if m.drug == drug), key=lambda m: (not m.default, m.name))


TABLE_COLUMNS = ("id", "drug", "metric", "unit", "observed", "central", "spread", "tolerance",
                 "low", "high", "model", "default", "predicted", "ratio", "passed",
                 "expected_failure", "note", "extrapolation", "population", "regimen",
                 "source")


def validation_table(models: Iterable[Model | str] | None = None,
                     observations: Iterable[Observation] | None = None) -> pd.DataFrame:
    """Predicted vs observed for every comparable observation and every model of its drug.

    Parameters
    ----------
    models : iterable of Model or str, optional
        Models to evaluate (names or objects); default: every shipped model. Each
        observation is evaluated with each given model of its drug.
    observations : iterable of Observation, optional
        Default: :func:`load_observations`.

    Returns
    -------
    DataFrame
        One row per (observation, model), default models first, with columns
        ``TABLE_COLUMNS``: ``observed`` and the pass interval ``low``/``high`` in the
        observation's ``unit``, ``predicted``, ``ratio`` (predicted / observed), ``passed``
        (nullable boolean; NA when the model cannot predict the quantity),
        ``expected_failure`` (the documented reason when the model is known to miss the
        row, else ""), and ``extrapolation`` (where the prediction leaves the model's
        source data, :func:`outside_source_data`; "" when it does not).
    """
    obs_rows = load_observations() if observations is None else tuple(observations)
    use = _resolve_models(models)
    rows = []
    for obs in obs_rows:
        if not obs.comparable:
            continue
        low, high = obs.bounds
        for model in _models_for(obs.drug, use):
            if is_paediatric(model) and paediatric_model(obs.drug, dict(obs.subject)) is None:
                continue  # a paediatric model refuses adults: nothing to score
            pred = predict(obs, model)
            ok = math.isfinite(pred.value)
            rows.append({
                "id": obs.id, "drug": obs.drug, "metric": obs.metric, "unit": obs.unit,
                "observed": obs.value, "central": obs.central, "spread": obs.spread,
                "tolerance": obs.tolerance.describe(), "low": low, "high": high,
                "model": model.name, "default": model.default, "predicted": pred.value,
                "ratio": pred.value / obs.value if ok else math.nan,
                "passed": bool(low <= pred.value <= high) if ok else pd.NA,
                "expected_failure": obs.known_discrepancy.get(model.name, ""),
                "note": pred.note, "extrapolation": "; ".join(pred.outside),
                "population": obs.population, "regimen": obs.regimen,
                "source": obs.source_short,
            })
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    df["passed"] = df["passed"].astype("boolean")
    return df


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Rows addressed, predicted, passing and failing per model of a validation table."""
    out = []
    for (drug, model), g in table.groupby(["drug", "model"], sort=False):
        out.append({
            "drug": drug, "model": model, "default": bool(g["default"].iloc[0]),
            "addressed": len(g), "predicted": int(g["passed"].notna().sum()),
            "passed": int(g["passed"].eq(True).sum()),
            "failed": int(g["passed"].eq(False).sum()),
            "not_computable": int(g["passed"].isna().sum()),
        })
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- reference library

#: Observed metrics of the reference library that pkdose computes at steady state, and the
#: column of the answer engine (:mod:`pkdose.engine`) each is read from.
REFERENCE_METRICS: Mapping[str, str] = MappingProxyType({
    "ctrough": "ctrough_ng_ml",
    "cmax": "cmax_ng_ml",
    "auctau": "auctau_ng_h_ml",
    "auc168": "auc168_ng_h_ml",
    "cavg": "cavg_ng_ml",
})

#: A prediction is "within" when |predicted / observed - 1| is at most this.
REFERENCE_TOLERANCE = 0.30

REFERENCE_COLUMNS = ("name", "reference", "arm", "drug", "metric", "unit", "regimen",
                     "comedication", "model", "observed", "central", "spread", "n",
                     "predicted", "ratio", "within_30pct", "uncertain", "skipped", "notes",
                     "population", "source")

_YEAR = re.compile(r"\b(19[6-9]\d|20[0-4]\d)\b")


def _year(ref, obs_source: str) -> str:
    """Publication year of an observation: its own source, else the reference's."""
    if obs_source:
        m = _YEAR.search(obs_source)
        if m:
            return m.group(1)
    if ref.source.get("year"):
        return str(ref.source["year"])
    m = _YEAR.search(str(ref.source.get("citation", "")))
    return m.group(1) if m else ""


def _comedication_note(drug: str, comed: tuple[str, ...]) -> str:
    from pkdose.interactions import get_interaction

    if not comed:
        return "No co-medication."
    parts = []
    for name in comed:
        it = get_interaction(drug, name)
        ratios = []
        if it.auc_ratio is not None:
            rng = (f" ({it.auc_range[0]:g}-{it.auc_range[1]:g})" if it.auc_range else "")
            ratios.append(f"AUC x{it.auc_ratio:g}{rng}")
        if it.cmax_ratio is not None:
            ratios.append(f"Cmax x{it.cmax_ratio:g}")
        if it.clf_ratio is not None:
            ratios.append(f"CL/F x{it.clf_ratio:g}")
        if it.trough_ratio is not None:
            ratios.append(f"steady-state trough x{it.trough_ratio:g}")
        measured = ", ".join(ratios) or "no exposure change"
        where = "; ".join(x for x in (it.population, it.victim) if x)
        context = f" ({it.context})" if it.context else ""
        parts.append(f"{name}{context} through the interaction layer ({measured}, measured in "
                     f"{where or 'population not stated'}).")
    return "Co-medication: " + " ".join(parts)


def _reference_notes(ref, row: Mapping, model: Model, outside: tuple[str, ...]) -> str:
    """What differs between the observation and the simulation, from the reference file."""
    notes = []
    if "s0931" in str(row["source"]).casefold():
        notes.append("SWOG S0931 troughs are dose-normalised (to 10 mg/day) medians or "
                     "subgroup values: compared as is with the 10 mg daily prediction.")
    elif "normalised" in f"{row['note']} {row['central']}".casefold():
        notes.append("Dose-normalised values: compared as is.")
    if "target" in str(row["central"]).casefold():
        notes.append(f"The observed value is a {row['central']}, not a measured mean.")
    elif str(row["central"]).casefold() == "not stated":
        notes.append("Central tendency not stated.")
    notes.append(_comedication_note(ref.drug, tuple(row["comedication"])))
    pop = row["population"] or ref.population.description
    subj = covariate_table({}).iloc[0]
    notes.append(f"Population: {pop}; simulated: the pkdose typical subject ({subj['sex']}, "
                 f"{subj['weight_kg']:g} kg, {subj['age_y']:g} y, haematocrit "
                 f"{subj['hct_pct']:g} %); model {model.name} fitted in "
                 f"{model.population.get('description', 'population not stated')} "
                 f"(co-medication: {model.population.get('comedication', 'not stated')}).")
    year = _year(ref, row["source"] if row["source"] != ref.source.get("citation") else "")
    assay = row["assay"] or "not recorded in the reference file"
    notes.append(f"Assay: {assay}" + (f" (publication {year})." if year else "."))
    if outside:
        notes.append("Outside the model's data: " + "; ".join(outside) + ".")
    if row["note"]:
        notes.append(f"Source note: {row['note']}")
    for comed in row["comedication"]:
        for n in ref.notes:
            if comed.split("-")[0].casefold() in n.casefold():
                notes.append(f"Reference note: {n}")
    if row["uncertain"]:
        notes.append("Flagged uncertain in the source data.")
    return " ".join(dict.fromkeys(notes))


def reference_validation(directory: str | Path | None = None) -> pd.DataFrame:
    """Every observed exposure of the reference library beside pkdose's prediction.

    Each observation of :func:`pkdose.references.observed` that is a steady-state
    whole-blood metric pkdose computes (:data:`REFERENCE_METRICS`) is simulated with the
    drug's *default* model, for the typical subject, at the steady state of the reference's
    repeating regimen (for a trial arm, that arm's regimen; a fixed-length trial's repeating
    block is made indefinite), with the reference's co-medication applied through the
    interaction layer. Nothing is tuned: disagreements are reported with what the reference
    file says about the population, co-medication and assay.

    Parameters
    ----------
    directory : path, optional
        Another folder of reference files (default: :func:`pkdose.references.regimens_dir`).

    Returns
    -------
    DataFrame
        One row per observation, columns ``REFERENCE_COLUMNS``: ``predicted`` and
        ``observed`` in ``unit``, ``ratio`` (predicted / observed), ``within_30pct``
        (|ratio - 1| <= 0.30; NA when skipped), ``skipped`` (why the row was not
        compared, "" when it was) and ``notes`` (co-medication, population, assay era,
        extrapolation and the source's own notes).
    """
    from pkdose import references

    obs = references.observed(directory=directory)
    defaults = {m.drug: m for m in builtin_models().values() if m.default}
    cache: dict[tuple, tuple[pd.DataFrame, tuple[str, ...]]] = {}
    rows = []
    for _, o in obs.iterrows():
        ref = references.get(o["name"], directory=directory)
        model = defaults[ref.drug]
        reg = ref.regimen.on_treatment()
        comed = tuple(o["comedication"])
        row = {"name": o["name"], "reference": o["reference"], "arm": o["arm"],
               "drug": o["drug"], "metric": o["metric"], "unit": o["unit"],
               "regimen": str(reg), "comedication": "+".join(comed), "model": model.name,
               "observed": float(o["value"]), "central": o["central"], "spread": o["spread"],
               "n": o["n"], "predicted": math.nan, "ratio": math.nan, "within_30pct": pd.NA,
               "uncertain": bool(o["uncertain"]), "skipped": "", "notes": "",
               "population": o["population"] or ref.population.description,
               "source": o["source"]}
        if o["metric"] not in REFERENCE_METRICS:
            row["skipped"] = (f"metric {o['metric']} is not a steady-state whole-blood metric "
                              f"pkdose computes ({', '.join(REFERENCE_METRICS)})")
        elif not ref.systemic:
            row["skipped"] = "topical use: pkdose models no systemic exposure"
        elif not reg.is_indefinite:
            row["skipped"] = "the regimen does not repeat, so it has no steady state"
        if row["skipped"]:
            rows.append(row)
            continue
        key = (str(reg), comed)
        if key not in cache:
            scn = scenario(reg, model, None, with_=comed, warn=False)
            vals = evaluate(scn, list(REFERENCE_METRICS.values()))
            cache[key] = (vals, outside_source_data(model, reg, scn.prep.cov))
        vals, outside = cache[key]
        pred = float(vals[REFERENCE_METRICS[o["metric"]]][0])
        ratio = pred / row["observed"]
        row.update(predicted=pred, ratio=ratio,
                   within_30pct=bool(abs(ratio - 1.0) <= REFERENCE_TOLERANCE + 1e-12),
                   notes=_reference_notes(ref, o, model, outside))
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))
    out["within_30pct"] = out["within_30pct"].astype("boolean")
    return out


def reference_disagreements(df: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """The ``k`` compared rows of :func:`reference_validation` furthest from 1 in log ratio."""
    comp = df[df["skipped"] == ""].copy()
    comp["abs_log_ratio"] = np.abs(np.log(comp["ratio"].astype(float)))
    top = comp.sort_values("abs_log_ratio", ascending=False, kind="stable").head(k)
    return top[["name", "drug", "metric", "regimen", "comedication", "observed", "predicted",
                "unit", "ratio", "abs_log_ratio", "notes"]].reset_index(drop=True)


def reference_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per drug: rows compared, fraction within ±30 % and median |ratio - 1|.

    The three largest disagreements overall (by |log ratio|, with the row notes that
    explain them) are in ``summary.attrs["largest_disagreements"]``
    (:func:`reference_disagreements`).
    """
    out = []
    for drug, g in df.groupby("drug", sort=True):
        comp = g[g["skipped"] == ""]
        err = np.abs(comp["ratio"].astype(float) - 1.0)
        out.append({
            "drug": drug, "observations": len(g), "compared": len(comp),
            "skipped": len(g) - len(comp),
            "within_30pct": int(comp["within_30pct"].eq(True).sum()),
            "fraction_within_30pct": (float(comp["within_30pct"].eq(True).mean())
                                      if len(comp) else math.nan),
            "median_abs_ratio_error": float(err.median()) if len(comp) else math.nan,
        })
    summary_df = pd.DataFrame(out)
    summary_df.attrs["largest_disagreements"] = reference_disagreements(df)
    return summary_df
