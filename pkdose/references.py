"""Reference regimens: cited regimens to compare against (``regimens/*.toml``).

Most are human regimens; files with ``purpose = "lifespan"`` are animal lifespan studies
(``[reference] species``, ``strain``, ``start_age`` and ``[[lifespan]]`` rows with the
change in median lifespan per sex), run on the species' model and never compared with
human regimens directly.

Each file is an ordinary pkdose regimen file (``drug``, ``name``, ``description``,
``regimen``), so ``pkdose compare regimens/kraig2018.toml`` works, plus metadata tables:
``[reference]`` (title, purpose, population, co-medication, notes), ``[source]`` (the
citation), optional ``[[arm]]`` (one per trial arm, each with its own regimen),
``[[observed]]`` (published exposure) and ``[[target]]`` (trough ranges and signal lines).
The schema is in ``docs/references.md``.

Where the files are found (first that exists):

1. the folder named by the environment variable ``PKDOSE_REGIMENS``;
2. ``regimens/`` at the top of a source checkout (next to ``pyproject.toml``);
3. the copy shipped inside the package, ``pkdose/data/regimens/`` (kept byte-identical to
   ``regimens/`` by ``scripts/gen_references_doc.py``; a test checks it), so an installed
   pkdose has them too.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from pkdose.drugs import all_drug_names, resolve_drug
from pkdose.errors import PkdoseError
from pkdose.files import read_text
from pkdose.interactions import get_interaction
from pkdose.regimen import Regimen
from pkdose.regimen_io import parse_regimen_toml
from pkdose.regimen_text import parse_regimen

__all__ = [
    "ENV_VAR",
    "METRIC_UNITS",
    "PURPOSES",
    "ANIMAL_PURPOSES",
    "Arm",
    "Lifespan",
    "NotSimulated",
    "Observed",
    "StudyPopulation",
    "Reference",
    "TargetRange",
    "get",
    "lifespan",
    "load",
    "names",
    "observed",
    "read_reference",
    "regimens_dir",
    "targets",
]

ENV_VAR = "PKDOSE_REGIMENS"

#: Allowed ``purpose`` values and what they mean.
PURPOSES = MappingProxyType({
    "transplant": "approved transplant dosing (with or without a calcineurin inhibitor)",
    "oncology": "approved or trial oncology dosing",
    "tsc": "tuberous sclerosis complex (SEGA, renal angiomyolipoma, seizures)",
    "lam": "lymphangioleiomyomatosis",
    "ageing-trial": "completed human trial aimed at ageing or an age-related disease",
    "planned-ageing-trial": "dosing range of planned ageing trials",
    "topical": "applied to the skin; modelled as no systemic exposure",
    "lifespan": "animal lifespan study (wild-type); simulated with the species' model",
    "disease-model": "animal model of a disease (rapamycin dose and route given); simulated "
                     "with the species' model",
    "animal-study": "animal study of tolerability, exposure or healthspan (dogs, marmosets); "
                    "simulated with the species' model",
})

#: Purposes of animal studies: a file with an animal ``species`` has one of these, a human
#: file none of them.
ANIMAL_PURPOSES = ("lifespan", "disease-model", "animal-study")

#: Observed exposure metrics and their unit (AUC units as written in the project's
#: curated data set, shared/data/pk_observations.json).
METRIC_UNITS = MappingProxyType({
    "ctrough": "ng/mL",
    "cmax": "ng/mL",
    "cavg": "ng/mL",
    "auctau": "ng*h/mL",
    "auc168": "ng*h/mL",
})

TARGET_KINDS = ("range", "signal")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_REFERENCE_KEYS = ("title", "purpose", "comedication", "population", "notes", "systemic",
                   "species", "strain", "start_age", "measured", "outcome", "combined_with")
_NOT_SIMULATED_KEYS = ("name", "title", "n", "reason")
_LIFESPAN_KEYS = ("sex", "delta_median_pct", "significant", "arm", "note")
LIFESPAN_SEXES = ("male", "female", "mixed")
_POPULATION_KEYS = ("description", "n", "age_y", "age")
_SOURCE_KEYS = ("citation", "authors", "year", "journal", "volume", "pages", "doi", "pmid",
                "pmcid", "nct", "label", "verified", "unverified")
_ARM_KEYS = ("name", "title", "regimen", "comedication", "n", "note")
_OBSERVED_KEYS = ("metric", "value", "unit", "central", "spread", "n", "population", "assay",
                  "arm", "origin", "uncertain", "note", "source", "doi", "pmid", "pmcid")
_TARGET_KEYS = ("metric", "low", "high", "unit", "kind", "applies_to", "source", "doi",
                "pmid", "label", "verified", "note", "assay")
_METADATA_TABLES = ("reference", "source", "arm", "observed", "target", "lifespan",
                    "not_simulated")


@dataclass(frozen=True)
class StudyPopulation:
    """Who the regimen was given to: description, size and age range."""

    description: str
    n: int | None = None
    age_y: tuple[float, float] | None = None
    age: str = ""

    def age_text(self) -> str:
        """Age as text: the range in years, else the free text."""
        if self.age_y is not None:
            lo, hi = self.age_y
            return f"{lo:g}-{hi:g} y"
        return self.age


@dataclass(frozen=True)
class Arm:
    """One arm of a trial: its own regimen (and co-medication)."""

    name: str
    title: str
    regimen: Regimen
    comedication: tuple[str, ...] = ()
    n: int | None = None
    note: str = ""


@dataclass(frozen=True)
class NotSimulated:
    """A trial arm pkdose cannot simulate (e.g. no rapalog in it), with the reason."""

    name: str
    title: str
    reason: str
    n: int | None = None


@dataclass(frozen=True)
class Observed:
    """A published exposure value, copied as the source reports it."""

    metric: str
    value: float
    unit: str
    central: str
    spread: str
    n: int | None = None
    population: str = ""
    assay: str = ""
    arm: str = ""
    origin: str = ""
    uncertain: bool = False
    note: str = ""
    source: str = ""
    doi: str = ""
    pmid: str = ""
    pmcid: str = ""


@dataclass(frozen=True)
class TargetRange:
    """A whole-blood concentration range (or one-sided signal line) for this regimen."""

    metric: str
    low: float | None
    high: float | None
    unit: str
    kind: str
    applies_to: str
    source: str
    doi: str = ""
    pmid: str = ""
    label: str = ""
    verified: bool = True
    note: str = ""
    assay: str = ""


@dataclass(frozen=True)
class Lifespan:
    """Change in median lifespan for one sex (and arm) of an animal lifespan study.

    ``delta_median_pct`` is None when the source reports an extension without a number;
    ``significant`` is None when it does not say.
    """

    sex: str
    delta_median_pct: float | None
    significant: bool | None = None
    arm: str = ""
    note: str = ""


@dataclass(frozen=True)
class Reference:
    """A reference regimen file (or one arm of it: ``name`` is then ``file/arm``).

    Attributes
    ----------
    regimen : Regimen
        The file's regimen (for a trial, its first arm; for an arm, that arm's).
    arms : tuple of Arm
        Trial arms (empty for a single-regimen reference).
    comedication : tuple of str
        Canonical co-medication names known to :mod:`pkdose.interactions`.
    systemic : bool
        False for topical use: pkdose must not simulate the regimen as an oral dose.
    measured, outcome : str
        What the study measured and what it found, one line each.
    combined_with : tuple of str
        Other drugs given with rapamycin in every arm (e.g. metformin in the diet): said,
        not simulated (no pharmacokinetic interaction is known to pkdose).
    not_simulated : tuple of NotSimulated
        Arms of the study pkdose cannot simulate, with the reason.
    """

    name: str
    title: str
    drug: str
    purpose: str
    regimen: Regimen
    population: StudyPopulation
    source: Mapping[str, Any]
    arms: tuple[Arm, ...] = ()
    comedication: tuple[str, ...] = ()
    observed: tuple[Observed, ...] = ()
    targets: tuple[TargetRange, ...] = ()
    notes: tuple[str, ...] = ()
    systemic: bool = True
    description: str = ""
    path: str = ""
    arm: str = ""
    species: str = "human"
    strain: str = ""
    start_age: str = ""
    lifespan: tuple[Lifespan, ...] = ()
    measured: str = ""
    outcome: str = ""
    combined_with: tuple[str, ...] = ()
    not_simulated: tuple[NotSimulated, ...] = ()

    @property
    def citation(self) -> str:
        """The source citation with its identifiers, one line."""
        return _citation(self.source)

    def to_text(self) -> str:
        """Everything the file says, one fact per line: regimen and arms, population,
        source, observed exposure, targets, notes (``pkdose references show``)."""
        comed = f" + {' + '.join(self.comedication)}" if self.comedication else ""
        pop = self.population
        out = [f"{self.name}: {self.title}", f"  drug: {self.drug}   purpose: {self.purpose}",
               f"  regimen: {self.regimen}{comed}",
               *(f"  arm {a.name}: {a.regimen}" for a in self.arms),
               f"  population: {pop.description}" + (f" (n = {pop.n})" if pop.n else ""),
               *(f"  arm {a.name}: not simulated ({a.reason}): {a.title}"
                 for a in self.not_simulated)]
        if self.combined_with:
            out.append(f"  given with: {'; '.join(self.combined_with)} (not simulated)")
        if self.species != "human":
            out.append(f"  species: {self.species}   strain: {self.strain}   start: "
                       f"{self.start_age}")
        out += [f"  {key}: {value}" for key, value in (("measured", self.measured),
                                                       ("outcome", self.outcome)) if value]
        for ls in self.lifespan:
            delta = ("extended (no number)" if ls.delta_median_pct is None else
                     f"{ls.delta_median_pct:+g} %" + (" (NS)" if ls.significant is False else ""))
            out.append(f"  median lifespan, {ls.sex}{' ' + ls.arm if ls.arm else ''}: {delta}")
        out.append(f"  source: {self.source.get('citation', '')}")
        out += [f"    {key}: {self.source[key]}" for key in ("doi", "pmid", "pmcid", "label")
                if self.source.get(key)]
        out += [f"  observed {ob.metric}: {ob.value:g} {ob.unit}"
                + (f" ({ob.spread})" if ob.spread else "") for ob in self.observed]
        out += [f"  target {tg.metric} "
                f"{f'{tg.low:g}-{tg.high:g}' if tg.high else f'>= {tg.low:g}'} {tg.unit}: "
                f"{tg.applies_to}" for tg in self.targets]
        out += [f"  note: {note}" for note in self.notes]
        if not self.systemic:
            out.append("  not systemic: modelled as no blood exposure")
        return "\n".join(out) + "\n"

    def get_arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        for a in self.arms:
            if a.name == name:
                return a
        raise PkdoseError(f"reference {self.name} has no arm {name!r}; arms: "
                          f"{', '.join(a.name for a in self.arms) or 'none'}")


def _citation(src: Mapping[str, Any]) -> str:
    ids = [f"doi:{src['doi']}" if src.get("doi") else "",
           f"PMID {src['pmid']}" if src.get("pmid") else "",
           f"{src['pmcid']}" if src.get("pmcid") else "",
           f"{src['label']}" if src.get("label") and not src.get("doi") and not src.get("pmid")
           else ""]
    extra = "; ".join(i for i in ids if i)
    return str(src.get("citation", "")) + (f" {extra}" if extra else "")


# ------------------------------------------------------------------------------ validation

def _fail(where: str, key: str, msg: str) -> PkdoseError:
    return PkdoseError(f"{where}: key '{key}' {msg}")


def _check_keys(where: str, prefix: str, table: object, allowed: tuple[str, ...]) -> dict:
    if not isinstance(table, dict):
        raise PkdoseError(f"{where}: '{prefix}' must be a table")
    for key in table:
        if key not in allowed:
            raise PkdoseError(f"{where}: unknown key '{prefix}.{key}'; expected one of "
                              f"{', '.join(allowed)}")
    return table


def _str(where: str, key: str, value: object, required: bool = True) -> str:
    if value is None:
        if required:
            raise PkdoseError(f"{where}: missing key '{key}'")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(where, key, f"must be a non-empty string, got {value!r}")
    return value


def _num(where: str, key: str, value: object, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, key, f"must be a number, got {value!r}")
    if not math.isfinite(value) or (positive and value <= 0):
        raise _fail(where, key, f"must be a positive number, got {value!r}")
    return float(value)


def _int(where: str, key: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(where, key, f"must be a positive whole number, got {value!r}")
    return value


def _str_list(where: str, key: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, key, f"must be an array of strings, got {value!r}")
    return tuple(value)


def _comedication(where: str, key: str, drug: str, value: object) -> tuple[str, ...]:
    out = []
    for name in _str_list(where, key, value):
        try:
            canon = get_interaction(drug, name).spec  # keeps a non-default context
        except PkdoseError as err:
            raise _fail(where, key, f"has {name!r}: {err}") from None
        if canon not in out:
            out.append(canon)
    return tuple(out)


def _regimen(where: str, key: str, drug: str, text: object) -> Regimen:
    text = _str(where, key, text)
    low = " ".join(text.split()).casefold()
    has_drug = any(low.startswith(n) and (len(low) == len(n) or low[len(n)] in " ,;:")
                   for n in all_drug_names())
    try:
        reg = parse_regimen(text if has_drug else f"{drug} {text}")
    except PkdoseError as err:
        raise _fail(where, key, f"does not parse: {err}") from None
    if reg.drug != drug:
        raise _fail(where, key, f"is for {reg.drug}, but the file's drug is {drug}")
    return reg


def _source(where: str, prefix: str, raw: object) -> Mapping[str, Any]:
    src = _check_keys(where, prefix, raw, _SOURCE_KEYS)
    _str(where, f"{prefix}.citation", src.get("citation"))
    if not any(src.get(k) for k in ("doi", "pmid", "label")):
        raise PkdoseError(f"{where}: '{prefix}' needs a doi, pmid or label (e.g. "
                          "label = \"Rapamune, NDA 021083\")")
    for key in ("doi", "pmid", "pmcid", "nct", "label", "authors", "journal", "volume",
                "pages", "unverified"):
        _str(where, f"{prefix}.{key}", src.get(key), required=False)
    # verified: what was read and where; or false when nothing of the entry could be read,
    # and then unverified must say what was tried.
    if src.get("verified") is False:
        if not src.get("unverified"):
            raise PkdoseError(f"{where}: '{prefix}.verified = false' needs "
                              f"'{prefix}.unverified' saying what was tried")
    else:
        _str(where, f"{prefix}.verified", src.get("verified"), required=False)
    if "year" in src:
        _int(where, f"{prefix}.year", src["year"])
    return MappingProxyType(dict(src))


def _population(where: str, raw: object) -> StudyPopulation:
    pop = _check_keys(where, "reference.population", raw, _POPULATION_KEYS)
    age_y = None
    if "age_y" in pop:
        v = pop["age_y"]
        if not (isinstance(v, list) and len(v) == 2):
            raise _fail(where, "reference.population.age_y", f"must be [low, high], got {v!r}")
        lo = _num(where, "reference.population.age_y", v[0])
        hi = _num(where, "reference.population.age_y", v[1])
        if not lo < hi:
            raise _fail(where, "reference.population.age_y", f"must have low < high, got {v!r}")
        age_y = (lo, hi)
    return StudyPopulation(
        description=_str(where, "reference.population.description", pop.get("description")),
        n=_int(where, "reference.population.n", pop.get("n")),
        age_y=age_y,
        age=_str(where, "reference.population.age", pop.get("age"), required=False),
    )


def _arm(where: str, i: int, raw: object, drug: str, default_comed: tuple[str, ...]) -> Arm:
    p = f"arm[{i}]"
    arm = _check_keys(where, p, raw, _ARM_KEYS)
    name = _str(where, f"{p}.name", arm.get("name"))
    if not _SLUG.fullmatch(name):
        raise _fail(where, f"{p}.name", f"must be a lower-case slug (e.g. 'ev-5mg-weekly'), "
                    f"got {name!r}")
    comed = (_comedication(where, f"{p}.comedication", drug, arm["comedication"])
             if "comedication" in arm else default_comed)
    return Arm(
        name=name, title=_str(where, f"{p}.title", arm.get("title")),
        # The arm's regimen carries its co-medication, as the file's regimen does.
        regimen=_regimen(where, f"{p}.regimen", drug, arm.get("regimen")).with_comedications(
            comed),
        comedication=comed, n=_int(where, f"{p}.n", arm.get("n")),
        note=_str(where, f"{p}.note", arm.get("note"), required=False),
    )


def _metric_unit(where: str, p: str, raw: Mapping) -> tuple[str, str]:
    """The ``metric`` and ``unit`` keys of an observed or target row, checked together."""
    metric = _str(where, f"{p}.metric", raw.get("metric"))
    if metric not in METRIC_UNITS:
        raise _fail(where, f"{p}.metric", f"must be one of {', '.join(METRIC_UNITS)}, "
                    f"got {metric!r}")
    unit = _str(where, f"{p}.unit", raw.get("unit"))
    if unit != METRIC_UNITS[metric]:
        raise _fail(where, f"{p}.unit", f"must be {METRIC_UNITS[metric]!r} for {metric}, "
                    f"got {unit!r}")
    return metric, unit


def _observed(where: str, i: int, raw: object, arms: tuple[Arm, ...]) -> Observed:
    p = f"observed[{i}]"
    obs = _check_keys(where, p, raw, _OBSERVED_KEYS)
    metric, unit = _metric_unit(where, p, obs)
    if "value" not in obs:
        raise PkdoseError(f"{where}: missing key '{p}.value'")
    arm = _str(where, f"{p}.arm", obs.get("arm"), required=bool(arms))
    if arms and arm not in {a.name for a in arms}:
        raise _fail(where, f"{p}.arm", f"names no arm of this file: {arm!r}")
    if not arms and arm:
        raise _fail(where, f"{p}.arm", "given, but the file has no [[arm]] tables")
    origin = _str(where, f"{p}.origin", obs.get("origin"), required=False)
    if origin and not re.fullmatch(r"json:\d+", origin):
        raise _fail(where, f"{p}.origin", f"must look like 'json:17', got {origin!r}")
    uncertain = obs.get("uncertain", False)
    if not isinstance(uncertain, bool):
        raise _fail(where, f"{p}.uncertain", f"must be true or false, got {uncertain!r}")
    return Observed(
        metric=metric, value=_num(where, f"{p}.value", obs["value"]), unit=unit,
        central=_str(where, f"{p}.central", obs.get("central")),
        spread=_str(where, f"{p}.spread", obs.get("spread")),
        n=_int(where, f"{p}.n", obs.get("n")),
        population=_str(where, f"{p}.population", obs.get("population"), required=False),
        assay=_str(where, f"{p}.assay", obs.get("assay"), required=False), arm=arm,
        origin=origin, uncertain=uncertain,
        note=_str(where, f"{p}.note", obs.get("note"), required=False),
        source=_str(where, f"{p}.source", obs.get("source"), required=False),
        doi=_str(where, f"{p}.doi", obs.get("doi"), required=False),
        pmid=_str(where, f"{p}.pmid", obs.get("pmid"), required=False),
        pmcid=_str(where, f"{p}.pmcid", obs.get("pmcid"), required=False),
    )


def _target(where: str, i: int, raw: object) -> TargetRange:
    p = f"target[{i}]"
    tgt = _check_keys(where, p, raw, _TARGET_KEYS)
    metric, unit = _metric_unit(where, p, tgt)
    kind = tgt.get("kind", "range")
    if kind not in TARGET_KINDS:
        raise _fail(where, f"{p}.kind", f"must be one of {', '.join(TARGET_KINDS)}, got {kind!r}")
    low = _num(where, f"{p}.low", tgt["low"]) if "low" in tgt else None
    high = _num(where, f"{p}.high", tgt["high"]) if "high" in tgt else None
    if kind == "range" and (low is None or high is None):
        raise PkdoseError(f"{where}: '{p}' is a range and needs both 'low' and 'high'")
    if low is None and high is None:
        raise PkdoseError(f"{where}: '{p}' needs 'low' or 'high'")
    if low is not None and high is not None and not low < high:
        raise _fail(where, f"{p}.low", f"must be below high, got {low:g} >= {high:g}")
    if not any(tgt.get(k) for k in ("doi", "pmid", "label")):
        raise PkdoseError(f"{where}: '{p}' needs a doi, pmid or label")
    verified = tgt.get("verified", True)
    if not isinstance(verified, bool):
        raise _fail(where, f"{p}.verified", f"must be true or false, got {verified!r}")
    return TargetRange(
        metric=metric, low=low, high=high, unit=unit, kind=kind,
        applies_to=_str(where, f"{p}.applies_to", tgt.get("applies_to")),
        source=_str(where, f"{p}.source", tgt.get("source")),
        doi=_str(where, f"{p}.doi", tgt.get("doi"), required=False),
        pmid=_str(where, f"{p}.pmid", tgt.get("pmid"), required=False),
        label=_str(where, f"{p}.label", tgt.get("label"), required=False),
        verified=verified, note=_str(where, f"{p}.note", tgt.get("note"), required=False),
        assay=_str(where, f"{p}.assay", tgt.get("assay"), required=False),
    )


def _lifespan(where: str, i: int, raw: object, arms: tuple[Arm, ...]) -> Lifespan:
    prefix = f"lifespan[{i}]"
    t = _check_keys(where, prefix, raw, _LIFESPAN_KEYS)
    sex = _str(where, f"{prefix}.sex", t.get("sex"))
    if sex not in LIFESPAN_SEXES:
        raise _fail(where, f"{prefix}.sex", f"must be one of {', '.join(LIFESPAN_SEXES)}")
    delta = t.get("delta_median_pct")
    if delta is not None:
        delta = _num(where, f"{prefix}.delta_median_pct", delta, positive=False)
    sig = t.get("significant")
    if sig is not None and not isinstance(sig, bool):
        raise _fail(where, f"{prefix}.significant", f"must be true or false, got {sig!r}")
    arm = _str(where, f"{prefix}.arm", t.get("arm"), required=False)
    if arms and arm not in {a.name for a in arms}:
        raise _fail(where, f"{prefix}.arm", f"must name one of the arms, got {arm!r}")
    return Lifespan(sex, delta, sig, arm, _str(where, f"{prefix}.note", t.get("note"),
                                               required=False))


def _not_simulated(where: str, i: int, raw: object) -> NotSimulated:
    p = f"not_simulated[{i}]"
    t = _check_keys(where, p, raw, _NOT_SIMULATED_KEYS)
    name = _str(where, f"{p}.name", t.get("name"))
    if not _SLUG.fullmatch(name):
        raise _fail(where, f"{p}.name", f"must be a lower-case slug, got {name!r}")
    return NotSimulated(name=name, title=_str(where, f"{p}.title", t.get("title")),
                        reason=_str(where, f"{p}.reason", t.get("reason")),
                        n=_int(where, f"{p}.n", t.get("n")))


def _tables(where: str, meta: Mapping[str, Any], key: str) -> list:
    value = meta.get(key, [])
    if isinstance(value, dict):
        raise PkdoseError(f"{where}: '{key}' must be an array of tables: write [[{key}]]")
    return list(value)


def parse_reference(text: str, source: str = "reference TOML", stem: str | None = None
                    ) -> Reference:
    """Read and validate a reference regimen file's contents.

    Parameters
    ----------
    text : str
        TOML text (schema in ``docs/references.md``).
    source : str
        Name used in error messages, usually the path.
    stem : str, optional
        File name without ``.toml``; the ``name`` key must equal it.

    Raises
    ------
    PkdoseError
        One line naming ``source`` and the offending key.
    """
    rf = parse_regimen_toml(text, source=source)
    where = source
    meta = rf.metadata
    unknown = sorted(set(meta) - set(_METADATA_TABLES))
    if unknown:
        raise PkdoseError(f"{where}: unknown table '{unknown[0]}'; expected "
                          f"{', '.join(_METADATA_TABLES)}")
    reg = rf.regimen
    name = reg.name
    if not name:
        raise PkdoseError(f"{where}: missing key 'name' (the file name without .toml)")
    if not _SLUG.fullmatch(name):
        raise _fail(where, "name", f"must be a lower-case slug, got {name!r}")
    if stem is not None and name != stem:
        raise _fail(where, "name", f"must equal the file name {stem!r}, got {name!r}")
    if "reference" not in meta:
        raise PkdoseError(f"{where}: missing table [reference] (title, purpose, population)")
    if "source" not in meta:
        raise PkdoseError(f"{where}: missing table [source] (citation with doi, pmid or label)")
    ref = _check_keys(where, "reference", meta["reference"], _REFERENCE_KEYS)
    purpose = _str(where, "reference.purpose", ref.get("purpose"))
    if purpose not in PURPOSES:
        raise _fail(where, "reference.purpose", f"must be one of {', '.join(PURPOSES)}, "
                    f"got {purpose!r}")
    if "population" not in ref:
        raise PkdoseError(f"{where}: missing key 'reference.population'")
    systemic = ref.get("systemic", True)
    if not isinstance(systemic, bool):
        raise _fail(where, "reference.systemic", f"must be true or false, got {systemic!r}")
    if purpose == "topical" and systemic:
        raise _fail(where, "reference.systemic", "must be false for purpose 'topical'")
    from pkdose.model import SPECIES

    species = _str(where, "reference.species", ref.get("species", "human"))
    if species not in SPECIES:
        raise _fail(where, "reference.species", f"must be one of {', '.join(SPECIES)}")
    if (purpose in ANIMAL_PURPOSES) != (species != "human"):
        raise _fail(where, "reference.species", "an animal reference needs one of the "
                    f"purposes {', '.join(ANIMAL_PURPOSES)}, and such a study an animal "
                    "species")
    drug = reg.drug
    comed = _comedication(where, "reference.comedication", drug, ref.get("comedication"))
    arms = tuple(_arm(where, i, a, drug, comed)
                 for i, a in enumerate(_tables(where, meta, "arm"), start=1))
    if len({a.name for a in arms}) != len(arms):
        raise PkdoseError(f"{where}: two [[arm]] tables share a name")
    skipped = tuple(_not_simulated(where, i, t)
                    for i, t in enumerate(_tables(where, meta, "not_simulated"), start=1))
    if len({a.name for a in arms} | {s.name for s in skipped}) != len(arms) + len(skipped):
        raise PkdoseError(f"{where}: an [[arm]] and a [[not_simulated]] table share a name")
    if arms and arms[0].regimen != reg:
        raise _fail(where, "regimen", f"must equal the first arm's regimen "
                    f"({arms[0].regimen}), got {reg}")
    return Reference(
        name=name, title=_str(where, "reference.title", ref.get("title")), drug=drug,
        purpose=purpose, regimen=reg, population=_population(where, ref["population"]),
        source=_source(where, "source", meta["source"]), arms=arms, comedication=comed,
        observed=tuple(_observed(where, i, o, arms)
                       for i, o in enumerate(_tables(where, meta, "observed"), start=1)),
        targets=tuple(_target(where, i, t)
                      for i, t in enumerate(_tables(where, meta, "target"), start=1)),
        notes=_str_list(where, "reference.notes", ref.get("notes")), systemic=systemic,
        description=rf.description, path=source, species=species,
        strain=_str(where, "reference.strain", ref.get("strain"), required=False),
        start_age=_str(where, "reference.start_age", ref.get("start_age"), required=False),
        lifespan=tuple(_lifespan(where, i, t, arms)
                       for i, t in enumerate(_tables(where, meta, "lifespan"), start=1)),
        measured=_str(where, "reference.measured", ref.get("measured"), required=False),
        outcome=_str(where, "reference.outcome", ref.get("outcome"), required=False),
        combined_with=_str_list(where, "reference.combined_with", ref.get("combined_with")),
        not_simulated=skipped,
    )


def read_reference(path: str | os.PathLike[str] | Traversable) -> Reference:
    """Read and validate one reference regimen file (see :func:`parse_reference`)."""
    name = getattr(path, "name", Path(str(path)).name)
    if isinstance(path, (str, os.PathLike)):
        text = read_text(path, "reference file")
    else:  # a file shipped inside the package
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PkdoseError(f"cannot read reference file {path}: {err}") from None
    stem = name[:-5] if name.endswith(".toml") else name
    return parse_reference(text, source=_display(path), stem=stem)


# --------------------------------------------------------------------------- the registry

def _display(path: object) -> str:
    """A short path for messages: relative to the working directory when possible."""
    try:
        return str(Path(str(path)).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def reference_of(path: str | os.PathLike[str]) -> Reference | None:
    """The reference a regimen file records (its ``[reference]`` table, arms and all), or
    None for a plain regimen file."""
    from pkdose.regimen_io import read_regimen_file

    if "reference" not in read_regimen_file(path).metadata:
        return None
    return read_reference(path)


def regimens_dir() -> Path | Traversable:
    """The folder the reference files are read from (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        if not p.is_dir():
            raise PkdoseError(f"{ENV_VAR}={env} is not a folder of reference regimen files")
        return p
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "regimens").is_dir():
        return checkout / "regimens"
    return resources.files("pkdose.data").joinpath("regimens")


def _signature(folder: Path | Traversable) -> tuple:
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".toml")),
                     key=lambda e: e.name)
    if isinstance(folder, Path):
        return tuple((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries)
    return tuple((e.name,) for e in entries)


#: Parsed reference folders, keyed by folder and the names, sizes and times of its files,
#: so an edited file is read again while repeated calls stay cheap.
_CACHE: dict[tuple[str, tuple], tuple[Reference, ...]] = {}


def _references(directory: str | os.PathLike[str] | None = None) -> tuple[Reference, ...]:
    folder = Path(directory) if directory is not None else regimens_dir()
    if isinstance(folder, Path) and not folder.is_dir():
        raise PkdoseError(f"reference folder {folder} not found")
    key = (str(folder), _signature(folder))
    if key not in _CACHE:
        refs = tuple(read_reference(e) for e in sorted(
            (e for e in folder.iterdir() if e.name.endswith(".toml")), key=lambda e: e.name))
        seen: dict[str, str] = {}
        for r in refs:
            if r.name in seen:
                raise PkdoseError(f"{r.path}: name {r.name!r} is also used by {seen[r.name]}")
            seen[r.name] = r.path
        _CACHE[key] = refs
    return _CACHE[key]


def names(directory: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of all reference files, sorted."""
    return [r.name for r in _references(directory)]


def get(name: str, directory: str | os.PathLike[str] | None = None) -> Reference:
    """A reference by file name, or one arm of it as ``file/arm``.

    For an arm the returned :class:`Reference` has that arm's regimen and co-medication,
    ``arms`` holding only that arm, and only that arm's observed values.

    Raises
    ------
    PkdoseError
        Unknown name (the message lists the known ones) or unknown arm.
    """
    file, _, arm = str(name).partition("/")
    refs = {r.name: r for r in _references(directory)}
    if file not in refs:
        raise PkdoseError(f"unknown reference {name!r}; known: {', '.join(refs)}")
    ref = refs[file]
    return _arm_view(ref, ref.get_arm(arm)) if arm else ref


def _arm_view(ref: Reference, a: Arm) -> Reference:
    """One arm of a trial as a Reference of its own (``file/arm``)."""
    return replace(ref, name=f"{ref.name}/{a.name}", regimen=a.regimen, arms=(a,),
                   comedication=a.comedication,
                   observed=tuple(o for o in ref.observed if o.arm == a.name), arm=a.name)


def regimens(purpose: str | None = None, drug: str | None = None,
             directory: str | os.PathLike[str] | None = None,
             species: str | None = None) -> list[Reference]:
    """Every reference regimen: one per file, or per arm for trials (as :func:`get` gives
    them, in the order of :func:`load`), read in one pass."""
    return [v for r in _filter(_references(directory), purpose, drug, species)
            for v in ([_arm_view(r, a) for a in r.arms] or [r])]


def _filter(refs: tuple[Reference, ...], purpose: str | None, drug: str | None,
            species: str | None = None) -> list[Reference]:
    if purpose is not None and purpose not in PURPOSES:
        raise PkdoseError(f"unknown purpose {purpose!r}; use one of {', '.join(PURPOSES)}",
                          option="purpose")
    if species is not None:
        from pkdose.model import SPECIES

        if species not in SPECIES:
            raise PkdoseError(f"unknown species {species!r}; use one of {', '.join(SPECIES)}",
                              option="species")
    d = resolve_drug(drug) if drug else None
    return [r for r in refs if (purpose is None or r.purpose == purpose)
            and (d is None or r.drug == d) and (species is None or r.species == species)]


def load(purpose: str | None = None, drug: str | None = None,
         directory: str | os.PathLike[str] | None = None,
         species: str | None = None) -> pd.DataFrame:
    """All reference regimens, one row per file or, for trials, per arm.

    Parameters
    ----------
    purpose : str, optional
        One of :data:`PURPOSES`.
    drug : str, optional
        ``sirolimus`` or ``everolimus`` (aliases accepted).
    directory : path, optional
        Read another folder of reference files (default: :func:`regimens_dir`).
    species : str, optional
        ``human``, ``mouse``, ``dog`` or ``marmoset``.

    Returns
    -------
    DataFrame
        Columns: name (``file`` or ``file/arm``; what :func:`get` takes), reference, arm,
        title, drug, regimen (canonical text), purpose, population, n, age, comedication
        (tuple), systemic, citation, doi, pmid, label, n_observed, n_targets, path, species,
        combined_with (tuple), outcome.
    """
    rows = []
    for r in _filter(_references(directory), purpose, drug, species):
        units = [(a.name, a.title, a.regimen, a.comedication, a.n) for a in r.arms] or [
            ("", r.title, r.regimen, r.comedication, r.population.n)]
        for arm, title, reg, comed, n in units:
            rows.append({
                "name": f"{r.name}/{arm}" if arm else r.name, "reference": r.name,
                "arm": arm, "title": title if not arm else f"{r.title}: {title}",
                "drug": r.drug, "regimen": str(reg), "purpose": r.purpose,
                "population": r.population.description, "n": n, "age": r.population.age_text(),
                "comedication": comed, "systemic": r.systemic, "citation": r.citation,
                "doi": r.source.get("doi", ""), "pmid": r.source.get("pmid", ""),
                "label": r.source.get("label", ""),
                "n_observed": sum(1 for o in r.observed if not arm or o.arm == arm),
                "n_targets": len(r.targets), "path": r.path, "species": r.species,
                "combined_with": r.combined_with, "outcome": r.outcome,
            })
    return pd.DataFrame(rows, columns=[
        "name", "reference", "arm", "title", "drug", "regimen", "purpose", "population", "n",
        "age", "comedication", "systemic", "citation", "doi", "pmid", "label", "n_observed",
        "n_targets", "path", "species", "combined_with", "outcome"])


def lifespan(directory: str | os.PathLike[str] | None = None,
             purposes: tuple[str, ...] = ("lifespan",)) -> pd.DataFrame:
    """Every animal lifespan result, one row per (study, arm, sex).

    Parameters
    ----------
    purposes : tuple of str
        Which studies: wild-type lifespan studies (default), or also ``disease-model``.

    Returns
    -------
    DataFrame
        Columns: name (``file`` or ``file/arm``; what :func:`get` takes), reference, arm,
        purpose, species, strain, sex, start_age, regimen (canonical text), route,
        delta_median_pct (NaN when the source gives no number), significant, note,
        combined_with (text, empty for rapamycin alone), citation.
    """
    rows = []
    for purpose in purposes:
        for r in _filter(_references(directory), purpose, None):
            for ls in r.lifespan:
                reg = r.get_arm(ls.arm).regimen if ls.arm else r.regimen
                rows.append({
                    "name": f"{r.name}/{ls.arm}" if ls.arm else r.name, "reference": r.name,
                    "arm": ls.arm, "purpose": r.purpose, "species": r.species,
                    "strain": r.strain, "sex": ls.sex, "start_age": r.start_age,
                    "regimen": str(reg), "route": reg.blocks[-1].dose.route,
                    "delta_median_pct": (ls.delta_median_pct if ls.delta_median_pct
                                         is not None else math.nan),
                    "significant": ls.significant, "note": ls.note,
                    "combined_with": "; ".join(r.combined_with), "citation": r.citation,
                })
    return pd.DataFrame(rows, columns=[
        "name", "reference", "arm", "purpose", "species", "strain", "sex", "start_age",
        "regimen", "route", "delta_median_pct", "significant", "note", "combined_with",
        "citation"])


def targets(drug: str | None = None, purpose: str | None = None,
            directory: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every target range and signal line, one row per target and reference file.

    Columns: reference, drug, purpose, metric, low, high, unit, kind, applies_to, source,
    doi, pmid, label, verified, note, assay, assay_note. ``low`` or ``high`` is NaN for a
    one-sided signal. ``low`` and ``high`` are on the LC-MS/MS scale pkdose predicts: a
    target stated for an immunoassay (``assay``) is converted with its cited bias and says
    so in ``applies_to`` and ``assay_note``; one with no method is taken as LC-MS/MS.
    """
    from pkdose.targets import lcms_band

    rows = []
    for r in _filter(_references(directory), purpose, drug):
        for t in r.targets:
            low, high, said = lcms_band(r.drug, t.low, t.high, t.assay)
            rows.append({
                "reference": r.name, "drug": r.drug, "purpose": r.purpose, "metric": t.metric,
                "low": low, "high": high, "unit": t.unit, "kind": t.kind,
                "applies_to": t.applies_to + (f" [{said}]" if t.assay and said else ""),
                "source": t.source, "doi": t.doi, "pmid": t.pmid, "label": t.label,
                "verified": t.verified, "note": t.note, "assay": t.assay, "assay_note": said})
    return pd.DataFrame(rows, columns=[
        "reference", "drug", "purpose", "metric", "low", "high", "unit", "kind", "applies_to",
        "source", "doi", "pmid", "label", "verified", "note", "assay", "assay_note"])


def observed(drug: str | None = None, purpose: str | None = None,
             directory: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every published exposure value, one row each, with the regimen it belongs to.

    Columns: name (``file`` or ``file/arm``), reference, arm, drug, regimen, comedication,
    metric, value, unit, central, spread, n, assay, uncertain, origin, source, doi, pmid,
    pmcid, note. ``source``/``doi``/``pmid`` fall back to the file's ``[source]``.
    """
    rows = []
    for r in _filter(_references(directory), purpose, drug):
        for o in r.observed:
            a = r.get_arm(o.arm) if o.arm else None
            rows.append({
                "name": f"{r.name}/{o.arm}" if o.arm else r.name, "reference": r.name,
                "arm": o.arm, "drug": r.drug, "regimen": str(a.regimen if a else r.regimen),
                "comedication": a.comedication if a else r.comedication, "metric": o.metric,
                "value": o.value, "unit": o.unit, "central": o.central, "spread": o.spread,
                "n": o.n, "population": o.population, "assay": o.assay,
                "uncertain": o.uncertain, "origin": o.origin,
                "source": o.source or r.source.get("citation", ""),
                "doi": o.doi or ("" if o.source else r.source.get("doi", "")),
                "pmid": o.pmid or ("" if o.source else r.source.get("pmid", "")),
                "pmcid": o.pmcid, "note": o.note,
            })
    return pd.DataFrame(rows, columns=[
        "name", "reference", "arm", "drug", "regimen", "comedication", "metric", "value",
        "unit", "central", "spread", "n", "population", "assay", "uncertain", "origin",
        "source", "doi",
        "pmid", "pmcid", "note"])

