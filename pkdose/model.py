"""Drug models as data: load the cited TOML files and turn covariates into parameters.

A model file states the structure (absorption, number of compartments, how clearance and
whole blood are formed), typical values with units, covariate effects in the source's own
functional form, between-subject (IIV) and between-occasion (IOV) variability, residual
error, the population it was fitted to and the citation. See ``docs/models.md``.

The solver needs, per subject, a small set of structural parameters: ``cl, v1, q, v2``
(and ``q2, v3`` for a third compartment; L/h, L), ``f``, ``tlag`` (h) and the absorption
parameters ``ka`` (1/h), ``ktr`` with ``n_chain`` (transit), or ``vm``/``km`` (mg/h, mg;
Michaelis-Menten).
:func:`individual_parameters` produces them as numpy arrays, one row per subject.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from pkdose.errors import PkdoseError
from pkdose.files import read_toml
from pkdose.limits import MAX_PARAM, MIN_PARAM, exceeded
from pkdose.regimen import DEPOT_ROUTES, ROUTES

#: Species a model can describe; absent ``[model] species`` means human.
SPECIES = ("human", "mouse", "dog", "marmoset")

#: ``none``: intravenous models, every dose enters the central compartment.
ABSORPTION = ("first_order", "transit", "michaelis_menten", "parallel_zero_first_order", "none")
#: Parameters that are fractions of the dose, so must lie below 1.
FRACTIONS = ("fr_zo",)
CLEARANCE = ("direct", "well_stirred_liver")
BLOOD = ("none", "langmuir_rbc")

_REQUIRED = {
    "first_order": ("ka",),
    "transit": ("mat",),
    "michaelis_menten": ("vm", "km"),
    "parallel_zero_first_order": ("ka", "fr_zo", "tk0"),
    "metabolite": ("cl_m", "v_m"),
    "direct": ("cl",),
    "well_stirred_liver": ("clint", "fu", "qh"),
    "langmuir_rbc": ("bmax_ng_ml", "kd_ng_ml", "kns"),
    1: ("v1",),
    2: ("v1", "q", "v2"),
    3: ("v1", "q", "v2", "q2", "v3"),
}


@dataclass(frozen=True)
class Parameter:
    """A typical value with its unit and provenance."""

    value: float
    unit: str
    label: str = ""
    fixed: bool = False
    rse_pct: float | None = None


@dataclass(frozen=True)
class CovariateEffect:
    """A covariate effect in the source's own functional form.

    Forms: ``power`` (``P * (cov/reference)**exponent``), ``linear_ratio``
    (``P * (1 + slope * cov/reference)``) and ``indicator`` (``P * factor`` when
    ``cov <op> threshold``).
    """

    parameter: str
    covariate: str
    form: str
    reference: float | None = None
    exponent: float | None = None
    slope: float | None = None
    op: str | None = None
    threshold: float | None = None
    factor: float | None = None
    label: str = ""

    def multiplier(self, cov: np.ndarray) -> np.ndarray:
        """Multiplicative factor on the parameter for covariate values ``cov``."""
        cov = np.asarray(cov, dtype=float)
        if self.form == "power":
            return (cov / self.reference) ** self.exponent
        if self.form == "linear_ratio":
            return 1.0 + self.slope * cov / self.reference
        if self.form == "indicator":
            hit = {
                ">": cov > self.threshold,
                ">=": cov >= self.threshold,
                "==": cov == self.threshold,
                "<": cov < self.threshold,
                "<=": cov <= self.threshold,
            }[self.op]
            return np.where(hit, self.factor, 1.0)
        raise AssertionError(self.form)  # forms are validated on load


def matrix_root(omega: np.ndarray) -> np.ndarray:
    """A matrix L with L L^T = omega (Cholesky, or symmetric root when singular)."""
    try:
        return np.linalg.cholesky(omega)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(omega)
        return v * np.sqrt(np.clip(w, 0.0, None))


@dataclass(frozen=True)
class Variability:
    """Log-normal variability: ``P_i = P * exp(eta)``, ``eta ~ N(0, omega)``; for the
    parameters in ``logit`` (fractions) logit-normal: ``P_i = expit(logit(P) + eta)``."""

    parameters: tuple[str, ...] = ()
    omega: tuple[tuple[float, ...], ...] = ()
    logit: tuple[str, ...] = ()

    def individual(self, name: str, typical, eta):
        """A parameter's individual value(s) from its typical value(s) and eta(s)."""
        if name in self.logit:
            # expit(logit(P) + eta) written so that neither tail overflows.
            return typical / (typical + (1.0 - typical) * np.exp(-np.asarray(eta)))
        return typical * np.exp(eta)

    @property
    def matrix(self) -> np.ndarray:
        """The omega matrix as a numpy array (log-scale variances and covariances)."""
        n = len(self.parameters)
        # An explicit shape: reshape(0, -1) fails for a model without this variability.
        return np.array(self.omega, dtype=float).reshape(n, n)


@dataclass(frozen=True)
class Model:
    """A population PK model read from a TOML data file. Immutable."""

    name: str
    drug: str
    title: str
    default: bool
    concentration: str
    absorption: str
    n_transit: int
    disposition: int
    clearance: str
    blood: str
    parameters: Mapping[str, Parameter]
    routes: tuple[str, ...] = ("oral",)
    effects: tuple[CovariateEffect, ...] = ()
    iiv: Variability = Variability()
    iov: Variability = Variability()
    residual: Mapping[str, float] = field(default_factory=dict)
    source: Mapping[str, str] = field(default_factory=dict)
    population: Mapping[str, object] = field(default_factory=dict)
    summary: str = ""
    notes: tuple[str, ...] = ()
    path: str = ""
    species: str = "human"
    strain: str = ""
    sex: str = ""
    reference_weight_kg: float | None = None
    clearance_reference_route: str = ""
    uncertainty: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    #: Parent-metabolite models: the metabolite whose whole-blood concentration is the
    #: output ``conc_ng_ml`` (the parent is ``<drug>_ng_ml``), mg of it per mg of parent
    #: cleared, and the infusion duration (h) a bare ``iv`` dose is given over.
    metabolite: str = ""
    metabolite_ratio: float = 1.0
    default_infusion_h: float = 0.0

    @property
    def is_animal(self) -> bool:
        """True for a model of an animal species (mouse, dog, marmoset)."""
        return self.species != "human"

    @property
    def n_chain(self) -> int:
        """Number of first-order absorption stages before the central compartment."""
        if self.absorption in ("first_order", "parallel_zero_first_order"):
            return 1
        if self.absorption == "transit":
            return self.n_transit + 1
        return 0

    @property
    def outputs(self) -> tuple[str, ...]:
        """Concentration columns this model produces."""
        if self.blood == "langmuir_rbc":
            return ("conc_ng_ml", "plasma_ng_ml")
        if self.metabolite:
            return ("conc_ng_ml", f"{self.drug}_ng_ml")
        return ("conc_ng_ml",)

    def typical(self, name: str) -> float:
        """Typical value of a parameter (before covariates)."""
        return self.parameters[name].value

    def with_params(self, **overrides: float) -> Model:
        """A copy with typical values replaced, for what-if runs (``--param cl=7.5``)."""
        params = dict(self.parameters)
        for key, value in overrides.items():
            if key not in params:
                raise PkdoseError(
                    f"model {self.name} has no parameter {key!r}; "
                    f"its parameters are {', '.join(sorted(params))}"
                )
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise PkdoseError(f"parameter {key} must be a positive number, got {value!r}")
            if key in FRACTIONS and not value < 1.0:
                raise PkdoseError(f"parameter {key} is a fraction of the dose and must be "
                                  f"below 1, got {value!r}")
            _check_param_range(f"parameter {key} = {value:g}", value)
            params[key] = replace(params[key], value=float(value), label=params[key].label
                                  + " [overridden by user]")
        return replace(self, parameters=MappingProxyType(params))

    def __reduce__(self):
        # Read-only mappings cannot be pickled; worker processes and Dask receive models
        # with them as marked plain dicts and wrap them again.
        return (_model_from_state, ({f.name: _read_only(getattr(self, f.name), True)
                                     for f in fields(self)},))

    def validity(self, key: str) -> tuple[float, float] | None:
        """Range of a covariate or of dose (``dose_mg``) in the source population."""
        rng = self.population.get(key)
        if isinstance(rng, (list, tuple)) and len(rng) == 2:
            return float(rng[0]), float(rng[1])
        return None


class _ReadOnly(dict):
    """A read-only mapping in transit through pickle."""


def _read_only(value: object, for_pickle: bool) -> object:
    """Swap read-only mappings for marked dicts (``for_pickle``) or back, at any depth."""
    if isinstance(value, (dict, MappingProxyType)):
        inner = {k: _read_only(v, for_pickle) for k, v in value.items()}
        if for_pickle and isinstance(value, MappingProxyType):
            return _ReadOnly(inner)
        if not for_pickle and isinstance(value, _ReadOnly):
            return MappingProxyType(inner)
        return inner
    if type(value) in (list, tuple):
        return type(value)(_read_only(v, for_pickle) for v in value)
    return value


def _model_from_state(state: dict) -> Model:
    """Rebuild a pickled :class:`Model` (see ``Model.__reduce__``)."""
    return Model(**{k: _read_only(v, False) for k, v in state.items()})


def _check_param_range(found: str, value: float) -> None:
    if value < MIN_PARAM:
        raise exceeded("param_min", found)
    if value > MAX_PARAM:
        raise exceeded("param_max", found)


def _load_toml(path: Path | str) -> dict:
    return read_toml(path, "model file")


def _variability(raw: dict | None, params: Mapping[str, Parameter], where: str) -> Variability:
    if not raw:
        return Variability()
    names = tuple(raw.get("parameters", ()))
    try:
        omega = tuple(tuple(float(x) for x in row) for row in raw.get("omega", ()))
    except (TypeError, ValueError):
        raise PkdoseError(f"{where}: omega must be a matrix of numbers") from None
    if any(len(row) != len(names) for row in omega):
        raise PkdoseError(f"{where}: omega must be {len(names)}x{len(names)}")
    mat = np.array(omega, dtype=float).reshape(len(omega), len(names))
    if mat.shape != (len(names), len(names)):
        raise PkdoseError(f"{where}: omega must be {len(names)}x{len(names)}")
    if not np.allclose(mat, mat.T) or np.any(np.linalg.eigvalsh(mat) < -1e-12):
        raise PkdoseError(f"{where}: omega must be symmetric positive semi-definite")
    unknown = [n for n in names if n not in params]
    if unknown:
        raise PkdoseError(f"{where}: variability on unknown parameter(s) {', '.join(unknown)}")
    logit = raw.get("logit", [])
    if not isinstance(logit, list) or any(n not in names or n not in FRACTIONS for n in logit):
        raise PkdoseError(f"{where}: logit must list fractions with variability "
                          f"({', '.join(FRACTIONS)}), got {logit!r}")
    return Variability(names, omega, tuple(logit))


#: Keys each covariate effect form needs besides ``parameter``, ``covariate`` and ``form``.
EFFECT_FORMS = {
    "power": ("reference", "exponent"),
    "linear_ratio": ("reference", "slope"),
    "indicator": ("op", "threshold", "factor"),
}
INDICATOR_OPS = (">", ">=", "==", "<", "<=")


def _number(value: object, what: str) -> float:
    # TOML gives strings, booleans or tables where a number was meant; name the key, not
    # Python's float() message.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PkdoseError(f"{what} must be a number, got {value!r}")
    return float(value)


def _effect(e: object, params: Mapping[str, Parameter], what: str) -> CovariateEffect:
    """One ``[[covariate_effects]]`` entry, checked so that it cannot fail at run time."""
    if not isinstance(e, dict):
        raise PkdoseError(f"{what} must be a table")
    form = e.get("form")
    if form not in EFFECT_FORMS:
        raise PkdoseError(f"{what}: unknown covariate effect form {form!r}; "
                          f"use one of {', '.join(EFFECT_FORMS)}")
    missing = [k for k in ("parameter", "covariate", *EFFECT_FORMS[form]) if k not in e]
    if missing:
        raise PkdoseError(f"{what} ({form}) needs {', '.join(missing)}")
    if e["parameter"] not in params:
        raise PkdoseError(f"{what}: covariate effect on unknown parameter {e['parameter']}")
    if e["covariate"] not in COVARIATES:
        raise PkdoseError(f"{what}: unknown covariate {e['covariate']!r}; "
                          f"known: {', '.join(COVARIATES)}")
    if form == "indicator" and e["op"] not in INDICATOR_OPS:
        raise PkdoseError(f"{what}: op must be one of {', '.join(INDICATOR_OPS)}, "
                          f"got {e['op']!r}")
    kwargs = {k: e[k] for k in e if k in CovariateEffect.__dataclass_fields__}
    for key in ("reference", "exponent", "slope", "threshold", "factor"):
        if key in kwargs:
            kwargs[key] = _number(kwargs[key], f"{what}: {key}")
    if form != "indicator" and not kwargs["reference"] > 0:
        raise PkdoseError(f"{what}: reference must be positive")
    return CovariateEffect(**kwargs)


def model_from_dict(raw: dict, path: str = "") -> Model:
    """Build a :class:`Model` from parsed TOML, validating the schema."""
    where = f"model file {path}" if path else "model"
    try:
        meta = raw["model"]
        struct = raw["structure"]
        praw = raw["parameters"]
    except KeyError as exc:
        raise PkdoseError(f"{where} has no [{exc.args[0]}] table") from None
    missing = [k for k in ("name", "drug") if not isinstance(meta.get(k), str) or not meta[k]]
    if missing:
        raise PkdoseError(f"{where}: [model] needs {' and '.join(missing)}")
    params: dict[str, Parameter] = {}
    for key, spec in praw.items():
        if not isinstance(spec, dict) or "value" not in spec or "unit" not in spec:
            raise PkdoseError(f"{where}: parameter {key} needs a value and a unit")
        value = _number(spec["value"], f"{where}: parameter {key}")
        if not (math.isfinite(value) and value > 0):
            raise PkdoseError(f"{where}: parameter {key} must be positive")
        if key in FRACTIONS and not value < 1.0:
            raise PkdoseError(f"{where}: parameter {key} is a fraction of the dose and must "
                              "be below 1")
        _check_param_range(f"{where}: parameter {key} = {value:g}", value)
        params[key] = Parameter(value, spec["unit"], spec.get("label", ""),
                                bool(spec.get("fixed", False)), spec.get("rse_pct"))
    absorption = struct.get("absorption")
    clearance = struct.get("clearance", "direct")
    blood = struct.get("blood", "none")
    disposition = struct.get("disposition", 2)
    for value, allowed, what in ((absorption, ABSORPTION, "absorption"),
                                 (clearance, CLEARANCE, "clearance"),
                                 (blood, BLOOD, "blood"), (disposition, (1, 2, 3), "disposition")):
        if value not in allowed:
            raise PkdoseError(f"{where}: {what} must be one of {allowed}, got {value!r}")
    disposition = int(disposition)
    metabolite, ratio, infusion_h = _metabolite(raw, struct, params, where)
    for need in (absorption, clearance, blood, disposition):
        missing = [p for p in _REQUIRED.get(need, ()) if p not in params]
        if missing:
            raise PkdoseError(f"{where}: {need} needs parameter(s) {', '.join(missing)}")
    species = meta.get("species", "human")
    if species not in SPECIES:
        raise PkdoseError(f"{where}: species must be one of {', '.join(SPECIES)}, "
                          f"got {species!r}")
    routes = tuple(struct.get("routes", ("oral",)))
    bad = [r for r in routes if r not in ROUTES]
    if bad:
        raise PkdoseError(f"{where}: unknown route(s) {', '.join(map(str, bad))}; "
                          f"use {', '.join(ROUTES)}")
    for key in params:
        prefix, _, route = key.partition("_")
        if prefix in ("f", "ka") and route in ROUTES and route not in routes:
            raise PkdoseError(f"{where}: parameter {key} is for route {route}, which is not "
                              f"among the model's routes ({', '.join(routes)})")
        if prefix == "f" and route in ROUTES and params[key].value > 1.0 + 1e-12 and (
            route == struct.get("clearance_reference_route")
        ):
            raise PkdoseError(f"{where}: {key} of the reference route must be 1")
    ref_weight = meta.get("reference_weight_kg")
    if ref_weight is not None:
        ref_weight = _number(ref_weight, f"{where}: reference_weight_kg")
        if not ref_weight > 0:
            raise PkdoseError(f"{where}: reference_weight_kg must be positive")
    if species != "human" and ref_weight is None:
        raise PkdoseError(f"{where}: an animal model needs [model] reference_weight_kg")
    uncertainty = raw.get("uncertainty", {})
    # Ranges may also cover derived quantities (a half-life, a feeding fraction).
    for key, spec in uncertainty.items():
        if not isinstance(spec, dict) or not {"low", "high", "basis"} <= set(spec):
            raise PkdoseError(f"{where}: uncertainty.{key} needs low, high and basis")
        lo = _number(spec["low"], f"{where}: uncertainty.{key}.low")
        hi = _number(spec["high"], f"{where}: uncertainty.{key}.high")
        if not 0 < lo <= hi:
            raise PkdoseError(f"{where}: uncertainty.{key} needs 0 < low <= high")
    n_transit = struct.get("n_transit", 0)
    if isinstance(n_transit, bool) or not isinstance(n_transit, int) or n_transit < 0:
        raise PkdoseError(f"{where}: n_transit must be a whole number >= 0, got {n_transit!r}")
    effects = [_effect(e, params, f"{where}: covariate effect {i}")
               for i, e in enumerate(raw.get("covariate_effects", []), start=1)]
    concentration = meta.get("concentration", "whole_blood")
    if blood == "langmuir_rbc" and concentration != "plasma":
        raise PkdoseError(f"{where}: red-cell binding needs plasma as the central concentration")
    return Model(
        name=meta["name"], drug=meta["drug"], title=meta.get("title", ""),
        default=bool(meta.get("default", False)), concentration=concentration,
        absorption=absorption, n_transit=n_transit,
        disposition=disposition, clearance=clearance, blood=blood,
        parameters=MappingProxyType(params), routes=routes,
        effects=tuple(effects),
        iiv=_variability(raw.get("iiv"), params, where),
        iov=_variability(raw.get("iov"), params, where),
        residual=MappingProxyType({k: v for k, v in raw.get("residual", {}).items()
                                   if isinstance(v, (int, float))}),
        source=MappingProxyType(dict(raw.get("source", {}))),
        population=MappingProxyType(dict(raw.get("population", {}))),
        summary=meta.get("summary", ""),
        notes=tuple(raw.get("notes", {}).get("discrepancies", ())),
        path=str(path),
        species=species, strain=str(meta.get("strain", "")), sex=str(meta.get("sex", "")),
        reference_weight_kg=ref_weight,
        clearance_reference_route=str(struct.get("clearance_reference_route", "")),
        uncertainty=MappingProxyType({k: MappingProxyType(dict(v))
                                      for k, v in uncertainty.items()}),
        metabolite=metabolite, metabolite_ratio=ratio, default_infusion_h=infusion_h,
    )


def _metabolite(raw: dict, struct: dict, params: Mapping[str, Parameter], where: str
                ) -> tuple[str, float, float]:
    """``[structure] metabolite`` with its ``[metabolite]`` table, checked: the metabolite's
    name, mg of it per mg of parent cleared (molar-mass ratio x fraction formed), and the
    default infusion duration (h)."""
    name = struct.get("metabolite", "")
    infusion_h = _number(struct.get("default_infusion_h", 0.0),
                         f"{where}: default_infusion_h")
    if not (math.isfinite(infusion_h) and infusion_h >= 0):
        raise PkdoseError(f"{where}: default_infusion_h must be a duration >= 0 h")
    if not name:
        return "", 1.0, infusion_h
    table = raw.get("metabolite", {})
    if not isinstance(name, str) or table.get("name") != name:
        raise PkdoseError(f"{where}: [structure] metabolite needs a [metabolite] table with "
                          "the same name")
    ratio = (_number(table.get("molar_mass_ratio"), f"{where}: molar_mass_ratio")
             * _number(table.get("fraction_formed"), f"{where}: fraction_formed"))
    if not 0 < ratio <= 10:
        raise PkdoseError(f"{where}: molar_mass_ratio x fraction_formed must lie in (0, 10]")
    missing = [p for p in _REQUIRED["metabolite"] if p not in params]
    if missing:
        raise PkdoseError(f"{where}: a metabolite needs parameter(s) {', '.join(missing)}")
    if struct.get("absorption") != "none" or struct.get("disposition", 2) not in (1, 2) or (
            set(struct.get("routes", ())) - {"iv", "infusion"}):
        raise PkdoseError(f"{where}: a metabolite model takes absorption 'none', 1 or 2 "
                          "compartments and routes iv/infusion only")
    return name, ratio, infusion_h


def load_model_file(path: Path | str) -> Model:
    """Load a model from a TOML file with the pkdose model schema."""
    return model_from_dict(_load_toml(path), str(path))


@functools.cache
def _shipped_models() -> tuple[Model, ...]:
    """Every shipped model, human ones first, each file read and validated once a process
    (models are immutable, so every caller can share them)."""
    out = []
    root = resources.files("pkdose.models")
    for folder, rel in ((root, ""), (root.joinpath("species"), "species/")):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.endswith(".toml"):
                with entry.open("rb") as fh:
                    out.append(model_from_dict(tomllib.load(fh),
                                               f"pkdose/models/{rel}{entry.name}"))
    return tuple(out)


def builtin_models(species: str | None = "human") -> dict[str, Model]:
    """Models shipped with pkdose, by name: human ones by default.

    Animal models live in ``pkdose/models/species/``; ``species`` picks one species, or
    None for every model of every species.
    """
    return {m.name: m for m in _shipped_models() if species is None or m.species == species}


def get_model(name: str | None = None, drug: str | None = None,
              species: str | None = None) -> Model:
    """A built-in model by name, a model file by path, or the default model for ``drug``.

    ``species`` (default human) picks the default model of that species, and is checked
    against a model given by name.
    """
    models = builtin_models(species=None)
    if species is not None and species not in SPECIES:
        raise PkdoseError(f"unknown species {species!r}; choose one of {', '.join(SPECIES)}")
    if name:
        if name.endswith(".toml") or Path(name).is_file():
            model = load_model_file(name)
        elif name in models:
            model = models[name]
        else:
            raise PkdoseError(
                f"unknown model {name!r}; choose one of {', '.join(models)} "
                "or give a path to a model TOML file"
            )
        if drug and model.drug != drug:
            raise PkdoseError(f"model {model.name} is for {model.drug}, not {drug}")
        if species is not None and model.species != species:
            raise PkdoseError(f"model {model.name} is a {model.species} model, not {species}")
        return model
    if not drug:
        raise PkdoseError("give a model name or a drug")
    want = species or "human"
    for m in models.values():
        if m.drug == drug and m.default and m.species == want:
            return m
    others = sorted(m.name for m in models.values() if m.drug == drug and m.species == want)
    if others:
        return models[others[0]]
    have = sorted({m.species for m in models.values() if m.drug == drug})
    if not have:
        raise PkdoseError(f"no model for drug {drug!r}")
    raise PkdoseError(f"no {want} model for {drug} yet; species with one: {', '.join(have)}")


def _data(name: str) -> Mapping:
    from pkdose.data import load_toml

    return load_toml(name)


def default_subject() -> dict[str, object]:
    """Covariates of the typical subject (``pkdose/data/subject.toml``)."""
    return dict(_data("subject.toml")["subject"])


COVARIATES = {
    "sex": "male or female",
    "weight_kg": "body weight (kg)",
    "height_cm": "height (cm)",
    "age_y": "age (years)",
    "hct_pct": "haematocrit (%)",
    "ast_iu_l": "aspartate aminotransferase (IU/L)",
    "prednisolone_mg_day": "prednisolone co-medication (mg/day)",
    "abcb1_ttt": "ABCB1 TTT haplotype carrier (0/1)",
    "ffm_kg": "fat-free mass (kg); derived from weight, height and sex when not given",
    "bsa_m2": "body-surface area (m2); derived from weight and height when not given",
    "fed": "taken with food: fasted (0, default) or fed (1) (docs/conditions.md)",
    "child_pugh": "liver impairment: none, A, B or C (Child-Pugh class)",
    "cyp3a5_expresser": "CYP3A5 genotype: *3/*3 (non-expresser, default), *1/*3 or *1/*1",
    "race_black": "race as recorded by the sources: black, or white/asian/other (default)",
}

_PLAUSIBLE = {
    "weight_kg": (2.0, 400.0),
    "height_cm": (40.0, 250.0),
    "age_y": (0.0, 120.0),
    "hct_pct": (5.0, 75.0),
    "ast_iu_l": (0.0, 5000.0),
    "prednisolone_mg_day": (0.0, 1000.0),
    "ffm_kg": (1.0, 200.0),
    "bsa_m2": (0.1, 4.0),
}


#: Covariates an animal subject may have: the rest describe people.
ANIMAL_COVARIATES = ("sex", "weight_kg", "food_g_day")
#: Short names accepted for covariates everywhere (tables, ``NAME=VALUE`` lists, the API).
COVARIATE_ALIASES = {"age": "age_y", "weight": "weight_kg", "height": "height_cm",
                     "hct": "hct_pct", "haematocrit": "hct_pct", "hematocrit": "hct_pct",
                     "ast": "ast_iu_l", "prednisolone": "prednisolone_mg_day",
                     "abcb1": "abcb1_ttt", "ffm": "ffm_kg", "bsa": "bsa_m2",
                     "food": "food_g_day", "cyp3a5": "cyp3a5_expresser",
                     "race": "race_black", "childpugh": "child_pugh",
                     "child-pugh": "child_pugh"}


def covariate_key(name: object) -> str:
    """A covariate's full name from its full or short name (``weight`` -> ``weight_kg``)."""
    key = str(name).strip().lower()
    return COVARIATE_ALIASES.get(key, key)


def parse_covariates(items: str | Sequence[str] | None) -> dict[str, object]:
    """``"age=67,weight=82"`` (or a list of ``NAME=VALUE``) -> covariates by full name."""
    parts = items.split(",") if isinstance(items, str) else list(items or ())
    out: dict[str, object] = {}
    for item in filter(None, (str(p).strip() for p in parts)):
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise PkdoseError(f"cannot read covariate {item!r}; write NAME=VALUE, "
                              "e.g. age=67,weight=82,hct=41")
        name, value = covariate_key(key), val.strip()
        if out.get(name, value) != value:  # weight=82,weight_kg=90: neither silently wins
            raise PkdoseError(f"{name} is given twice ({out[name]} and {value}); give it once")
        out[name] = value
    return out
#: Animal body weights accepted, as multiples of the model's reference weight: a check
#: against unit slips (grams for kg), not a biological limit.
ANIMAL_WEIGHT_FACTOR = 4.0


def _animal_table(df: pd.DataFrame, model: Model) -> pd.DataFrame:
    """Covariates of animal subjects: weight and sex (defaults from the model), food."""
    unknown = [c for c in df.columns if c not in ANIMAL_COVARIATES and c != "id"]
    if unknown:
        raise PkdoseError(f"covariate(s) {', '.join(unknown)} do not apply to a "
                          f"{model.species}; give {', '.join(ANIMAL_COVARIATES)}",
                          option=tuple(unknown))
    if "weight_kg" not in df.columns:
        df["weight_kg"] = model.reference_weight_kg
    if "sex" not in df.columns:
        # Food intake differs by sex; without a model sex, females (the sex most lifespan
        # studies report the larger effect in) are the documented default.
        df["sex"] = model.sex if model.sex in ("male", "female") else "female"
    df["sex"] = df["sex"].astype(str).str.lower().str.strip().replace(
        {"m": "male", "f": "female"})
    bad_sex = sorted(set(df["sex"]) - {"male", "female"})
    if bad_sex:
        raise PkdoseError(f"sex must be male or female, got {bad_sex[0]!r}")
    ref = float(model.reference_weight_kg)
    lo, hi = ref / ANIMAL_WEIGHT_FACTOR, ref * ANIMAL_WEIGHT_FACTOR
    for key in [c for c in df.columns if c not in ("sex", "id")]:
        try:
            df[key] = pd.to_numeric(df[key]).astype(float)
        except (ValueError, TypeError):
            raise PkdoseError(f"covariate {key} must be numeric") from None
    w = df["weight_kg"].to_numpy()
    if np.any(~np.isfinite(w)) or np.any((w < lo) | (w > hi)):
        bad = w[~np.isfinite(w) | (w < lo) | (w > hi)][0]
        raise PkdoseError(f"a {model.species} weight of {bad:g} kg is implausible for the "
                          f"{model.name} model (reference {ref:g} kg; accepted {lo:.3g}-"
                          f"{hi:.3g} kg); give the weight in kg")
    if "food_g_day" in df.columns:
        food = df["food_g_day"].to_numpy()
        if not np.all(food > 0):
            raise PkdoseError("food intake (food_g_day) must be positive")
        # An animal that eats its own weight every day is far beyond any species (mice
        # eat about 0.16 g per g a day); beyond that the value is in the wrong unit.
        if not np.all(food <= 1000.0 * df["weight_kg"].to_numpy()):
            raise PkdoseError("food intake (food_g_day) above the animal's own weight a day "
                              "is implausible; give it in g/day")
    # Human covariates have no meaning here; NaN makes any accidental use visible.
    for key in ("height_cm", "age_y", "hct_pct", "ffm_kg", "bsa_m2"):
        df[key] = np.nan
    return df


def covariate_table(subjects: pd.DataFrame | Mapping[str, object] | None = None,
                    n: int | None = None, model: Model | None = None) -> pd.DataFrame:
    """Complete covariate table: user values, defaults for the rest, derived sizes.

    Parameters
    ----------
    subjects : DataFrame or mapping, optional
        One row per subject (DataFrame) or one subject's covariates (mapping).
        Unknown columns raise; missing ones take the default subject's value.
    n : int, optional
        Number of rows when ``subjects`` is a mapping (all subjects identical).
    model : Model, optional
        For an animal model, the subjects are animals: only ``sex``, ``weight_kg`` and
        ``food_g_day`` apply, and weight and sex default to the model's reference animal.
    """
    if subjects is None:
        subjects = {}
    if isinstance(subjects, Mapping):
        df = pd.DataFrame([dict(subjects)] * (n or 1))
    else:
        df = subjects.reset_index(drop=True).copy()
    df.columns = [covariate_key(c) for c in df.columns]
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()][0]
        raise PkdoseError(f"covariate {dup} is given twice (by its full and its short name)")
    if model is not None and model.is_animal:
        return _animal_table(df, model)
    defaults = default_subject()
    unknown = [c for c in df.columns if c not in COVARIATES and c != "id"]
    if unknown:
        raise PkdoseError(
            f"unknown covariate(s) {', '.join(unknown)}; known: {', '.join(COVARIATES)}",
            option=tuple(unknown))
    defaulted = tuple(key for key in defaults if key not in df.columns)
    for key in defaulted:
        df[key] = defaults[key]
    # Normalised once per distinct spelling: string methods on every row of a population
    # of 100,000 cost a tenth of a second.
    codes, spellings = pd.factorize(df["sex"].astype(str))
    names = pd.Series(spellings).str.lower().str.strip().replace(
        {"m": "male", "f": "female", "0": "male", "1": "female"})
    df["sex"] = pd.Series(names.to_numpy()[codes], index=df.index, dtype=names.dtype)
    bad_sex = sorted(set(names) - {"male", "female"})
    if bad_sex:
        raise PkdoseError(f"sex must be male or female, got {bad_sex[0]!r}")
    from pkdose.conditions import condition_columns, encode_condition

    for key in [c for c in df.columns if c in condition_columns()]:
        df[key] = encode_condition(key, df[key])  # words (B, *1/*3, black) to level codes
    for key in [c for c in df.columns if c not in ("sex", "id")]:
        try:
            df[key] = pd.to_numeric(df[key]).astype(float)
        except (ValueError, TypeError):
            raise PkdoseError(f"covariate {key} must be numeric") from None
    _check_plausible(df)  # the given values, before anything is derived from them
    body = _data("body_size.toml")
    bmi = df["weight_kg"] / (df["height_cm"] / 100.0) ** 2
    if "ffm_kg" not in df.columns:
        ffm = body["ffm_janmahasatian"]
        a = np.where(df["sex"] == "male", ffm["male"]["a"], ffm["female"]["a"])
        b = np.where(df["sex"] == "male", ffm["male"]["b"], ffm["female"]["b"])
        df["ffm_kg"] = ffm["numerator"] * df["weight_kg"] / (a + b * bmi)
    if "bsa_m2" not in df.columns:
        df["bsa_m2"] = np.sqrt(df["height_cm"] * df["weight_kg"] / body["bsa_mosteller"]["divisor"])
    _check_plausible(df)
    # Which values are the default subject's rather than given, for warnings such as
    # an mg/kg dose resolved with the default weight.
    df.attrs["defaulted"] = defaulted
    return df


def _check_plausible(df: pd.DataFrame) -> None:
    """Refuse a covariate outside its plausible range (of those ``df`` holds)."""
    for key, (lo, hi) in _PLAUSIBLE.items():
        if key not in df.columns:
            continue
        vals = df[key].to_numpy()
        if np.any(~np.isfinite(vals)) or np.any((vals < lo) | (vals > hi)):
            bad = vals[~np.isfinite(vals) | (vals < lo) | (vals > hi)][0]
            raise PkdoseError(
                f"covariate {key}={bad:g} is outside the plausible range {lo:g}-{hi:g}"
            )


def individual_parameters(model: Model, covariates: pd.DataFrame,
                          eta: np.ndarray | None = None,
                          eta_occ: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Structural parameters per subject, ready for the solver.

    Parameters
    ----------
    model : Model
    covariates : DataFrame
        Output of :func:`covariate_table` (one row per subject).
    eta : array (n_subjects, n_iiv), optional
        Between-subject random effects in the order of ``model.iiv.parameters``.
    eta_occ : array (n_subjects, n_iov), optional
        Between-occasion random effects (one occasion) in ``model.iov.parameters`` order.

    Returns
    -------
    dict of str to ndarray
        ``cl, v1, f, tlag`` always; ``q, v2`` for two compartments, and ``q2, v3`` too
        for three; ``ka`` or ``ktr`` (with scalar ``n_chain``) or ``vm, km``; ``hct``
        (fraction) and red-cell binding constants where the model has them;
        route-specific bioavailability ``f_<route>`` and absorption rate ``ka_<route>``
        (depot routes: oral, ip, sc, diet) where the model gives them (absent: 1 and
        ``ka``).
    """
    n = len(covariates)
    p = {k: np.full(n, v.value) for k, v in model.parameters.items()}
    for eff in model.effects:
        p[eff.parameter] = p[eff.parameter] * eff.multiplier(covariates[eff.covariate])
    for var, e in ((model.iiv, eta), (model.iov, eta_occ)):
        if e is None or not var.parameters:
            continue
        e = np.asarray(e, dtype=float).reshape(n, len(var.parameters))
        for j, name in enumerate(var.parameters):
            p[name] = var.individual(name, p[name], e[:, j])
    for name, values in p.items():
        # A linear covariate form can cross zero (Golubovic 2019: CL/F at age >= 113 y);
        # the solver would then return growing, meaningless concentrations.
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            raise PkdoseError(
                f"model {model.name}: the covariates of subject row(s) "
                f"{', '.join(str(i) for i in bad[:5])} give {name} = {values[bad[0]]:g}; "
                "the covariate effects are outside their valid range"
            )
    out: dict[str, np.ndarray] = {}
    hct = covariates["hct_pct"].to_numpy(dtype=float) / 100.0
    if model.clearance == "well_stirred_liver":
        # ter Heine 2018 eqs 3-5: hepatic plasma flow, extraction, clearance and F = 1 - EH.
        qhp = p["qh"] * (1.0 - hct)
        fu_clint = p["fu"] * p["clint"]
        eh = fu_clint / (qhp + fu_clint)
        out["cl"] = qhp * eh
        out["f"] = (1.0 - eh) * p.get("f", 1.0)
    else:
        out["cl"] = p["cl"]
        out["f"] = p.get("f", np.ones(n))
    out["v1"] = p["v1"]
    if model.disposition >= 2:
        out["q"] = p["q"]
        out["v2"] = p["v2"]
    if model.disposition == 3:
        out["q2"] = p["q2"]
        out["v3"] = p["v3"]
    out["tlag"] = p.get("tlag", np.zeros(n))
    for key in p:
        prefix, _, route = key.partition("_")
        if prefix in ("f", "ka") and route in DEPOT_ROUTES:
            out[key] = p[key]
    if model.absorption == "first_order":
        out["ka"] = p["ka"]
    elif model.absorption == "parallel_zero_first_order":
        out["ka"], out["fr_zo"], out["tk0"] = p["ka"], p["fr_zo"], p["tk0"]
    elif model.absorption == "transit":
        out["ktr"] = (model.n_transit + 1) / p["mat"]
    elif model.absorption == "none":
        pass  # intravenous: doses enter the central compartment
    else:
        out["vm"] = p["vm"]
        out["km"] = p["km"]
    if model.metabolite:
        out["cl_m"], out["v_m"] = p["cl_m"], p["v_m"]
    if model.blood == "langmuir_rbc":
        out["hct"] = hct
        for key in ("bmax_ng_ml", "kd_ng_ml", "kns"):
            out[key] = p[key]
    return out
