"""Co-medications as cited fold-changes on clearance and bioavailability.

Each row of ``pkdose/data/interactions.toml`` holds what one interaction study (or label)
reports for one drug and one co-medication: the AUC ratio, where available the Cmax ratio
and half-lives, with the population, doses and uncertainty. The factors pkdose applies are
computed here from those numbers by the row's ``method`` (see ``docs/interactions.md``):

========================  =====================================  ==========================
method                    f_factor (on F)                        cl_factor (on CL)
========================  =====================================  ==========================
``cmax_auc``              Cmax ratio                             Cmax ratio / AUC ratio
``half_life``             AUC ratio x cl_factor                  t1/2 without / t1/2 with
``bioavailability``       AUC ratio                              1
``clearance``             1                                      1 / AUC ratio
``none``                  1                                      1
``trough``                steady-state trough ratio              1
========================  =====================================  ==========================

In every method ``f_factor / cl_factor`` is the AUC ratio (1 for ``none``; the trough ratio for
``trough``, where every steady-state concentration scales by it), so for any linear model
(``AUC = F * dose / CL``) the predicted ratio equals the reported one by construction.

A pair (drug, co-medication) may have one row per context: when the co-medication is taken
(``timing``: together, 4 h before) and whether the numbers come from single doses or from
both drugs at steady state (``setting``). The context is named with words after the
co-medication (``"ciclosporin together"``, ``"ciclosporin 4h single-dose"``); words left
out take the value of the pair's ``default`` row (:func:`get_interaction`).

The factors act on the solver-level arrays ``cl`` and ``f`` returned by
:func:`pkdose.model.individual_parameters` (:func:`apply_interactions`). For ter Heine 2018
those are the systemic plasma clearance and F = 1 - EH; acting on CLint instead would tie
CL and F together through the hepatic extraction ratio and could not reproduce both the
AUC and the Cmax ratio of a study (a CLint change large enough for ketoconazole's 15-fold
AUC lowers systemic CL about 6-fold, far beyond the observed half-life change).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from pkdose.drugs import resolve_drug
from pkdose.errors import PkdoseError

__all__ = [
    "METHODS",
    "Interaction",
    "apply_interactions",
    "class_only_comedications",
    "CONTEXTS",
    "comedication_description",
    "comedication_names",
    "comedication_table",
    "context_description",
    "context_words",
    "get_interaction",
    "interaction_factors",
    "interactions",
    "list_interactions",
    "resolve_comedication",
    "split_context",
]

#: Derivation methods and what each assumes (shown in docs/interactions.md).
METHODS = MappingProxyType({
    "cmax_auc": "F x Cmax ratio, CL x Cmax ratio / AUC ratio: keeps both primary end points; "
                "assumes Cmax scales with the absorbed dose (absorption much faster than "
                "elimination), so the Cmax ratio is matched only approximately",
    "half_life": "CL x t1/2 without / t1/2 with (volume unchanged), F x AUC ratio x that",
    "bioavailability": "F x AUC ratio, CL unchanged: a pre-systemic (gut) mechanism",
    "clearance": "CL x 1 / AUC ratio (or the reported CL/F ratio), F unchanged",
    "none": "no change: the source found no clinically relevant interaction",
    "trough": "F x steady-state trough ratio, CL unchanged: scales the whole steady-state "
              "curve, so a reported trough ratio is reproduced exactly at any dose and "
              "interval; used when only a trough ratio at steady state is reported (the CL/F "
              "split is then not identified)",
})

#: Context dimensions of a row: the TOML table naming their values and the row key.
CONTEXTS = ("timing", "setting")

_DATA = "interactions.toml"
_COMBINATION_CAVEAT = (
    "several co-medications are combined by multiplying their factors; inhibitors of the "
    "same enzyme do not multiply in reality (the combined effect is at most that of full "
    "inhibition), so the product over-states such combinations"
)


def _key(name: str) -> str:
    """Lookup key: case, spaces, '-' and '_' ignored (so 'Grapefruit juice' matches)."""
    return re.sub(r"[\s_\-]+", "", name).casefold()


@dataclass(frozen=True)
class Interaction:
    """One cited drug-co-medication interaction, with the numbers as the source gives them.

    Attributes
    ----------
    drug, comedication : str
        Canonical names.
    method : str
        Key of :data:`METHODS`; decides :attr:`cl_factor` and :attr:`f_factor`.
    auc_ratio, cmax_ratio, clf_ratio : float or None
        With/without ratios of AUC, Cmax and apparent oral clearance CL/F.
    auc_range, cmax_range : (float, float) or None
        Uncertainty of the ratio; ``*_range_type`` says what it is (90 % CI, range...).
    t_half_h : (float, float) or None
        Terminal half-life without and with the co-medication, h.
    trough_ratio, trough_range : float, (float, float) or None
        With/without ratio of steady-state troughs and its uncertainty.
    timing, setting : str
        Context the numbers were measured in (keys of the ``[timing]`` and ``[setting]``
        tables; ``""`` if the source gives none).
    default : bool
        The row used when the co-medication is named without context words.
    covariate : str
        Model covariate that already carries this effect (``""`` if none).
    acts_on : str
        Solver clearance the cl_factor multiplies: ``cl``, or ``cl_m`` when the source's
        ratio is that of a metabolite (temsirolimus -> sirolimus).
    source : Mapping
        ``citation``, ``doi``, ``pmid``, ``label``, ``verified``.
    """

    drug: str
    comedication: str
    method: str
    method_reason: str
    perpetrator: str = ""
    victim: str = ""
    population: str = ""
    n: int | None = None
    auc_ratio: float | None = None
    auc_range: tuple[float, float] | None = None
    auc_range_type: str = ""
    cmax_ratio: float | None = None
    cmax_range: tuple[float, float] | None = None
    cmax_range_type: str = ""
    clf_ratio: float | None = None
    t_half_h: tuple[float, float] | None = None
    trough_ratio: float | None = None
    trough_range: tuple[float, float] | None = None
    trough_range_type: str = ""
    timing: str = ""
    setting: str = ""
    default: bool = False
    covariate: str = ""
    acts_on: str = "cl"
    notes: tuple[str, ...] = ()
    source: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def exposure_ratio(self) -> float:
        """Exposure ratio the factors reproduce: 1 for ``none`` (the source's ratio is taken as
        no change), the trough ratio for ``trough``, else the reported AUC ratio, else 1 / the
        CL/F ratio."""
        if self.method == "none":
            return 1.0
        if self.method == "trough":
            return self.trough_ratio
        if self.auc_ratio is not None:
            return self.auc_ratio
        if self.clf_ratio is not None:
            return 1.0 / self.clf_ratio
        return 1.0

    @property
    def cl_factor(self) -> float:
        """Fold-change on clearance (solver ``cl``)."""
        if self.method == "cmax_auc":
            return self.cmax_ratio / self.exposure_ratio
        if self.method == "half_life":
            return self.t_half_h[0] / self.t_half_h[1]
        if self.method == "clearance":
            return self.clf_ratio if self.clf_ratio is not None else 1.0 / self.auc_ratio
        return 1.0

    @property
    def f_factor(self) -> float:
        """Fold-change on bioavailability (solver ``f``)."""
        if self.method == "cmax_auc":
            return self.cmax_ratio
        if self.method == "half_life":
            return self.exposure_ratio * self.cl_factor
        if self.method in ("bioavailability", "trough"):
            return self.exposure_ratio
        return 1.0

    @property
    def context(self) -> str:
        """The context words, e.g. ``"4h steady-state"`` (``""`` if none)."""
        return " ".join(c for c in (self.timing, self.setting) if c)

    @property
    def spec(self) -> str:
        """The shortest name that selects this row: the co-medication alone for the default
        (or only) row, else with its context words, e.g. ``"ciclosporin together
        single-dose"``."""
        if self.default or not self.context:
            return self.comedication
        return f"{self.comedication} {self.context}"

    @property
    def citation(self) -> str:
        """Citation with its identifiers, one line."""
        ids = [f"doi:{self.source['doi']}" if self.source.get("doi") else "",
               f"PMID {self.source['pmid']}" if self.source.get("pmid") else ""]
        extra = "; ".join(i for i in ids if i)
        return self.source.get("citation", "") + (f" {extra}" if extra else "")


def _where(i: int, row: Mapping[str, Any]) -> str:
    return (f"pkdose/data/{_DATA}: interaction[{i}] "
            f"({row.get('drug', '?')} + {row.get('comedication', '?')})")


def _ratio(where: str, row: Mapping[str, Any], key: str) -> float | None:
    if key not in row:
        return None
    v = row[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
        raise PkdoseError(f"{where}: key '{key}' must be a positive number, got {v!r}")
    return float(v)


def _pair(where: str, row: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    if key not in row:
        return None
    v = row[key]
    ok = (isinstance(v, list) and len(v) == 2
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in v))
    if not ok:
        raise PkdoseError(f"{where}: key '{key}' must be [low, high] positive numbers, got {v!r}")
    return float(v[0]), float(v[1])


_ROW_KEYS = {
    "drug", "comedication", "method", "method_reason", "perpetrator", "victim", "population",
    "n", "auc_ratio", "auc_range", "auc_range_type", "cmax_ratio", "cmax_range",
    "cmax_range_type", "clf_ratio", "t_half_h", "covariate", "notes", "source",
    "trough_ratio", "trough_range", "trough_range_type", "timing", "setting", "default",
    "acts_on",
}
#: Clearances a row's cl_factor may act on: the drug's own, or its metabolite's.
ACTS_ON = ("cl", "cl_m")
_NEEDS = {
    "cmax_auc": ("cmax_ratio",),
    "half_life": ("t_half_h",),
    "bioavailability": (),
    "clearance": (),
    "none": (),
    "trough": ("trough_ratio",),
}


def _interaction(i: int, row: Mapping[str, Any], names: Mapping[str, str],
                 contexts: Mapping[str, Mapping[str, Any]]) -> Interaction:
    where = _where(i, row)
    unknown = sorted(set(row) - _ROW_KEYS)
    if unknown:
        raise PkdoseError(f"{where}: unknown key '{unknown[0]}'")
    for key in ("drug", "comedication", "method", "method_reason", "source"):
        if key not in row:
            raise PkdoseError(f"{where}: missing key '{key}'")
    drug = resolve_drug(row["drug"])
    if row["comedication"] not in names:
        raise PkdoseError(f"{where}: comedication '{row['comedication']}' has no "
                          "[comedication.NAME] table")
    method = row["method"]
    if method not in METHODS:
        raise PkdoseError(f"{where}: method must be one of {', '.join(METHODS)}, got {method!r}")
    for dim in CONTEXTS:
        if dim in row and row[dim] not in contexts[dim]:
            raise PkdoseError(f"{where}: {dim} must be one of {', '.join(contexts[dim])}, "
                              f"got {row[dim]!r}")
    if row.get("acts_on", "cl") not in ACTS_ON:
        raise PkdoseError(f"{where}: acts_on must be one of {', '.join(ACTS_ON)}")
    if not isinstance(row.get("default", False), bool):
        raise PkdoseError(f"{where}: key 'default' must be true or false")
    inter = Interaction(
        drug=drug, comedication=row["comedication"], method=method,
        method_reason=str(row["method_reason"]),
        perpetrator=str(row.get("perpetrator", "")), victim=str(row.get("victim", "")),
        population=str(row.get("population", "")), n=row.get("n"),
        auc_ratio=_ratio(where, row, "auc_ratio"), auc_range=_pair(where, row, "auc_range"),
        auc_range_type=str(row.get("auc_range_type", "")),
        cmax_ratio=_ratio(where, row, "cmax_ratio"), cmax_range=_pair(where, row, "cmax_range"),
        cmax_range_type=str(row.get("cmax_range_type", "")),
        clf_ratio=_ratio(where, row, "clf_ratio"), t_half_h=_pair(where, row, "t_half_h"),
        trough_ratio=_ratio(where, row, "trough_ratio"),
        trough_range=_pair(where, row, "trough_range"),
        trough_range_type=str(row.get("trough_range_type", "")),
        timing=str(row.get("timing", "")), setting=str(row.get("setting", "")),
        default=row.get("default", False), covariate=str(row.get("covariate", "")),
        acts_on=str(row.get("acts_on", "cl")),
        notes=tuple(row.get("notes", ())),
        source=MappingProxyType(dict(row["source"])),
    )
    for key in _NEEDS[method]:
        if getattr(inter, key) is None:
            raise PkdoseError(f"{where}: method '{method}' needs key '{key}'")
    if method in ("cmax_auc", "half_life", "bioavailability") and inter.auc_ratio is None:
        raise PkdoseError(f"{where}: method '{method}' needs key 'auc_ratio'")
    if method == "clearance" and inter.auc_ratio is None and inter.clf_ratio is None:
        raise PkdoseError(f"{where}: method 'clearance' needs 'auc_ratio' or 'clf_ratio'")
    if method == "none" and inter.auc_range is not None and not (
            inter.auc_range[0] <= 1.0 <= inter.auc_range[1]):
        raise PkdoseError(f"{where}: method 'none' but the AUC range excludes 1")
    if not any(inter.source.get(k) for k in ("doi", "pmid", "label", "missing_ids")):
        raise PkdoseError(f"{where}: [interaction.source] needs a doi, pmid or label (or "
                          "missing_ids saying why none could be retrieved)")
    return inter


@dataclass(frozen=True)
class _Data:
    rows: tuple[Interaction, ...]
    lookup: Mapping[str, str]                     # alias key -> co-medication
    comeds: Mapping[str, Mapping]                 # co-medication -> its table
    contexts: Mapping[str, Mapping[str, Mapping]]  # dimension -> value -> its table
    words: Mapping[str, tuple[str, str]]          # alias key -> (dimension, value)


def _aliases(tables: Mapping[str, Mapping], what: str) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for name, spec in tables.items():
        for alias in (name, *spec.get("aliases", ())):
            other = lookup.setdefault(_key(alias), name)
            if other != name:
                raise PkdoseError(f"pkdose/data/{_DATA}: {what} alias {alias!r} names both "
                                  f"{other} and {name}")
    return lookup


@cache
def _load() -> _Data:
    with resources.files("pkdose.data").joinpath(_DATA).open("rb") as fh:
        raw = tomllib.load(fh)
    comeds = raw.get("comedication", {})
    lookup = _aliases(comeds, "co-medication")
    contexts = {dim: raw.get(dim, {}) for dim in CONTEXTS}
    words: dict[str, tuple[str, str]] = {}
    for dim in CONTEXTS:
        for key, value in _aliases(contexts[dim], dim).items():
            if key in words or key in lookup:
                raise PkdoseError(f"pkdose/data/{_DATA}: context word {value!r} is ambiguous")
            words[key] = (dim, value)
    rows = tuple(_interaction(i, r, comeds, contexts)
                 for i, r in enumerate(raw.get("interaction", []), 1))
    pairs: dict[tuple[str, str], list[Interaction]] = {}
    for r in rows:
        pairs.setdefault((r.drug, r.comedication), []).append(r)
    for (drug, comed), group in pairs.items():
        where = f"pkdose/data/{_DATA}: {drug} + {comed}"
        if len({(r.timing, r.setting) for r in group}) < len(group):
            raise PkdoseError(f"{where} appears twice in the same context")
        if len(group) > 1 and sum(r.default for r in group) != 1:
            raise PkdoseError(f"{where} has {len(group)} rows; mark exactly one "
                              "'default = true'")
    return _Data(rows, MappingProxyType(lookup), MappingProxyType(comeds),
                 MappingProxyType(contexts), MappingProxyType(words))


def interactions() -> tuple[Interaction, ...]:
    """Every shipped interaction, in file order."""
    return _load().rows


def comedication_names(drug: str | None = None) -> list[str]:
    """Canonical co-medication names, for one drug (those with data) or all."""
    data = _load()
    if drug is None:
        return list(data.comeds)
    d = resolve_drug(drug)
    return list(dict.fromkeys(r.comedication for r in data.rows if r.drug == d))


def comedication_description(name: str) -> str:
    """What a co-medication is (class and mechanism), from its ``[comedication.NAME]`` table."""
    return str(_load().comeds[resolve_comedication(name)].get("description", ""))


def comedication_table(name: str) -> Mapping[str, Any]:
    """The ``[comedication.NAME]`` table of a co-medication or alias (description, aliases,
    ``kinetics`` of its onset and offset, ``class_only``)."""
    return _load().comeds[resolve_comedication(name)]


def context_words(dim: str) -> dict[str, tuple[str, ...]]:
    """The values of a context dimension (``timing`` or ``setting``) with their aliases."""
    return {name: tuple(spec.get("aliases", ())) for name, spec in _load().contexts[dim].items()}


def context_description(dim: str, value: str) -> str:
    """What a context value means, e.g. ``context_description("timing", "4h")``."""
    return str(_load().contexts[dim][value].get("description", ""))


def resolve_comedication(name: str) -> str:
    """Canonical name of a co-medication or alias (case, spaces, '-' and '_' ignored).

    Raises
    ------
    PkdoseError
        Unknown name; the message lists the known ones.
    """
    return split_context(name)[0]


def split_context(text: str) -> tuple[str, dict[str, str]]:
    """A co-medication name with optional context words: canonical name and context.

    ``"CsA 4h steady state"`` gives ``("ciclosporin", {"timing": "4h", "setting":
    "steady-state"})``. Context words are read from the end of the text, so a co-medication
    whose own name ends in such a word is still found whole first.

    Raises
    ------
    PkdoseError
        Unknown name, or a context dimension named twice.
    """
    data = _load()
    words = str(text).split()
    context: dict[str, str] = {}
    while words:
        canon = data.lookup.get(_key(" ".join(words)))
        if canon is not None:
            return canon, context
        for k in range(min(len(words) - 1, 4), 0, -1):
            hit = data.words.get(_key(" ".join(words[-k:])))
            if hit is not None:
                dim, value = hit
                if context.setdefault(dim, value) != value:
                    raise PkdoseError(f"{text!r} names two {dim}s: {value} and "
                                      f"{context[dim]}")
                del words[-k:]
                break
        else:
            break
    for k in range(len(words) - 1, 0, -1):
        canon = data.lookup.get(_key(" ".join(words[:k])))
        if canon is not None:
            known = ", ".join(v for dim in CONTEXTS for v in data.contexts[dim])
            raise PkdoseError(f"unknown context {' '.join(words[k:])!r} after {canon} in "
                              f"{text!r}; context words: {known} (docs/interactions.md)")
    raise PkdoseError(f"unknown co-medication {text!r}; known: "
                      f"{', '.join(comedication_names())}")


def get_interaction(drug: str, name: str) -> Interaction:
    """The interaction of ``drug`` with co-medication ``name`` in the context it names.

    ``name`` is a co-medication or alias, optionally followed by context words: a timing
    (``together``, ``4h`` / ``staggered``) and a setting (``single-dose``, ``steady-state`` /
    ``maintenance``). A context left out takes the value of the pair's default row, where
    that leaves one row (so ``"ciclosporin together"`` for sirolimus selects the only
    together row, a single-dose study).

    Raises
    ------
    PkdoseError
        Unknown name, no data for this drug, or none in the named context; the message lists
        what is known.
    """
    d = resolve_drug(drug)
    known = comedication_names(d)
    try:
        canon, context = split_context(name)
    except PkdoseError as err:
        if not str(err).startswith("unknown co-medication"):
            raise
        raise PkdoseError(f"unknown co-medication {name!r} for {d}; known: "
                          f"{', '.join(known)}") from None
    group = [r for r in interactions() if r.drug == d and r.comedication == canon]
    if not group:
        why = (f" ({comedication_description(canon)}; pkdose applies measured ratios only)"
               if comedication_table(canon).get("class_only") else "")
        raise PkdoseError(f"no interaction data for {d} with {canon}{why}; known for {d}: "
                          f"{', '.join(known)}")
    hits = [r for r in group if all(getattr(r, k) == v for k, v in context.items())]
    if len(hits) > 1:
        default = next(r for r in group if r.default)
        hits = [r for r in hits if all(getattr(r, k) == getattr(default, k)
                                       for k in CONTEXTS if k not in context)] or hits
    if len(hits) == 1:
        return hits[0]
    asked = " ".join(context[k] for k in CONTEXTS if k in context)
    raise PkdoseError(
        f"{'several' if hits else 'no'} {d} + {canon} interaction rows for context "
        f"'{asked}'; known: " + ", ".join(f"'{r.spec}' ({r.context or 'no context'})"
                                          for r in group))



def _canonical(drug: str, names: Iterable[str] | str) -> list[Interaction]:
    if isinstance(names, str):
        names = [names]
    out: list[Interaction] = []
    for n in names:
        row = get_interaction(drug, n)
        twin = next((r for r in out if r.comedication == row.comedication), None)
        if twin is None:
            out.append(row)
        elif twin is not row:  # 'CsA' and 'ciclosporin' are the same row; contexts are not
            raise PkdoseError(f"{row.comedication} is named twice in different contexts "
                              f"('{twin.spec}' and '{row.spec}'); name it once")
    return out


def interaction_factors(drug: str, names: Iterable[str] | str
                        ) -> tuple[float, float, list[str]]:
    """Combined fold-changes on clearance and bioavailability for ``drug``.

    Parameters
    ----------
    drug : str
        ``sirolimus`` or ``everolimus`` (or an alias).
    names : iterable of str, or str
        Co-medications, each optionally with context words (``"ciclosporin together"``;
        aliases allowed; repeats count once). Empty gives (1, 1, []).

    Returns
    -------
    cl_factor, f_factor : float
        Products over the co-medications.
    notes : list of str
        One line per co-medication (factors, method, source), and the combination caveat
        when there are several.

    Raises
    ------
    PkdoseError
        Unknown co-medication, or none for this drug; the message lists the known ones.
    """
    rows = _canonical(drug, names)
    cl = math.prod(r.cl_factor for r in rows)
    f = math.prod(r.f_factor for r in rows)
    notes = [
        f"{r.comedication}{f' ({r.context})' if r.context else ''}: CL x {r.cl_factor:.3g}, "
        f"F x {r.f_factor:.3g} ({'trough' if r.method == 'trough' else 'AUC'} x "
        f"{r.exposure_ratio:.3g}; method {r.method}; {r.citation})"
        for r in rows
    ]
    if len(rows) > 1:
        notes.append(_COMBINATION_CAVEAT)
    return cl, f, notes


def list_interactions(drug: str | None = None) -> pd.DataFrame:
    """Shipped interactions as a table, one row per drug, co-medication and context.

    Columns: drug, comedication, context (timing and setting words), spec (the name that
    selects the row), default, auc_ratio, auc_range, cmax_ratio, cmax_range, clf_ratio,
    trough_ratio, trough_range, t_half_h, method, cl_factor, f_factor, population, n,
    perpetrator, victim, citation, doi, pmid, label, kinetics (how the effect comes and
    goes when the co-medication starts or stops; empty: whole course only).
    """
    d = resolve_drug(drug) if drug else None
    rows = [
        {
            "drug": r.drug, "comedication": r.comedication, "context": r.context,
            "spec": r.spec, "default": r.default, "auc_ratio": r.auc_ratio,
            "auc_range": r.auc_range, "cmax_ratio": r.cmax_ratio, "cmax_range": r.cmax_range,
            "clf_ratio": r.clf_ratio, "trough_ratio": r.trough_ratio,
            "trough_range": r.trough_range, "t_half_h": r.t_half_h, "method": r.method,
            "cl_factor": r.cl_factor, "f_factor": r.f_factor, "population": r.population,
            "n": r.n, "perpetrator": r.perpetrator, "victim": r.victim,
            "citation": r.source.get("citation", ""), "doi": r.source.get("doi", ""),
            "pmid": r.source.get("pmid", ""), "label": r.source.get("label", ""),
            "kinetics": _kinetics_text(r.comedication),
        }
        for r in interactions() if d is None or r.drug == d
    ]
    # Ratios a source does not report are NaN, as in a column where others report them.
    return pd.DataFrame(rows).astype(dict.fromkeys(
        ("auc_ratio", "cmax_ratio", "clf_ratio", "trough_ratio"), float))


def _kinetics_text(comedication: str) -> str:
    """``reversible, t1/2 8 h`` / ``enzyme, t1/2 72 h`` for co-medications that may start and
    stop (``name:dayA-dayB``), ``""`` for those that may not."""
    spec = comedication_table(comedication).get("kinetics")
    return f"{spec['mechanism']}, t1/2 {spec['half_life_h']:g} h" if spec else ""


def class_only_comedications() -> dict[str, str]:
    """Co-medications known by class only (no measured ratio shipped), with what is known."""
    return {name: str(spec.get("description", "")) for name, spec in _load().comeds.items()
            if spec.get("class_only")}


def apply_interactions(model_params: Mapping[str, np.ndarray], model: Any,
                       names: Iterable[str] | str) -> dict[str, np.ndarray]:
    """Individual parameters with co-medication factors applied to ``cl`` and ``f``.

    Parameters
    ----------
    model_params : mapping of str to ndarray
        Output of :func:`pkdose.model.individual_parameters` (not modified).
    model : pkdose.model.Model
        The model the parameters belong to (its drug selects the interaction rows).
    names : iterable of str, or str
        Co-medications, optionally with context words.

    Returns
    -------
    dict of str to ndarray
        A copy with ``cl`` multiplied by the combined cl_factor and ``f`` by the f_factor.

    Raises
    ------
    PkdoseError
        Unknown co-medication, or one the model already carries as a covariate (e.g.
        prednisolone in ter Heine 2018: set the subject's ``prednisolone_mg_day``).
    """
    rows = _canonical(model.drug, names)
    if rows and model.is_animal:  # the shipped ratios were all measured in people
        raise PkdoseError(f"co-medication effects come from human studies; {model.name} is a "
                          f"{model.species} model: give the {model.species} regimen without "
                          "co-medication")
    for r in rows:
        if r.covariate and any(e.covariate == r.covariate for e in model.effects):
            raise PkdoseError(
                f"model {model.name} already models {r.comedication} through the covariate "
                f"{r.covariate}; set that covariate for the subject instead of naming it as "
                "a co-medication"
            )
    out = dict(model_params)
    for key in ACTS_ON:
        specs = [r.spec for r in rows if r.acts_on == key]
        if specs:
            cl, f, _ = interaction_factors(model.drug, specs)
            out[key] = np.asarray(model_params[key], dtype=float) * cl
            out["f"] = np.asarray(out["f"], dtype=float) * f
    return out
