"""Assay methods of measured levels and targets, converted to the scale pkdose predicts.

pkdose predicts LC-MS/MS-equivalent whole-blood concentrations. A level or a target range
measured by an immunoassay (CMIA, MEIA, ECLIA, ACMIA, QMS, ...) reads higher or lower by a
method bias cited in ``pkdose/data/assays.toml``; it is converted with the proportional
factor ``ratio`` (measured on the method = ratio x LC-MS/MS). A level or target with no
method is taken as LC-MS/MS-equivalent, and pkdose says so (:data:`NO_METHOD`).

>>> from pkdose.assay import to_lcms
>>> to_lcms(10.0, "sirolimus", "CMIA")                 # doctest: +SKIP
8.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from pkdose.errors import PkdoseError

__all__ = ["NO_METHOD", "REFERENCE", "AssayBias", "assay_bias", "assays", "canonical_method",
           "to_lcms"]

#: The method pkdose predicts on.
REFERENCE = "LC-MS/MS"
#: What is assumed of a level or target whose method is not given.
NO_METHOD = ("no assay method given: taken as LC-MS/MS-equivalent whole blood, the scale "
             "pkdose predicts (immunoassays read up to 39 % higher; see docs/individual.md)")


@dataclass(frozen=True)
class AssayBias:
    """The bias of one method for one drug: measured = ``ratio`` x LC-MS/MS.

    ``low``-``high`` is the range the sources report, ``chosen`` why ``ratio`` was taken.
    """

    drug: str
    method: str
    ratio: float
    low: float
    high: float
    chosen: str
    source: str
    doi: str = ""
    pmid: str = ""

    @property
    def converts(self) -> bool:
        """Whether values on this method differ from LC-MS/MS (ratio not 1)."""
        return self.ratio != 1.0

    def describe(self) -> str:
        """One line: the factor, its range and where it comes from."""
        if not self.converts:
            return f"{self.method} taken as equal to LC-MS/MS for {self.drug}"
        rng = (f" (sources {100 * (self.low - 1):+.0f} to {100 * (self.high - 1):+.0f} %)"
               if self.low != self.high else "")
        ref = f"doi:{self.doi}" if self.doi else f"PMID {self.pmid}" if self.pmid else "cited"
        return (f"{self.drug} {self.method} reads {100 * (self.ratio - 1):+.0f} % against "
                f"LC-MS/MS{rng}; divided by {self.ratio:g} ({ref})")


def _key(text: str) -> str:
    return re.sub(r"[\s\-/_]", "", str(text)).casefold()


def _method_table() -> Mapping[str, Mapping]:
    from pkdose.data import load_toml

    return load_toml("assays.toml")["method"]


@cache
def _tables() -> tuple[Mapping[str, str], Mapping[tuple[str, str], AssayBias]]:
    from pkdose.data import load_toml

    raw = load_toml("assays.toml")
    names = {}
    for name, meta in _method_table().items():
        for alias in (name, *meta.get("aliases", ())):
            names[_key(alias)] = name
    biases = {}
    for row in raw["bias"]:
        b = AssayBias(row["drug"], row["method"], float(row["ratio"]), float(row["low"]),
                      float(row["high"]), row["chosen"], row["source"], row.get("doi", ""),
                      row.get("pmid", ""))
        if not b.low <= b.ratio <= b.high:
            raise PkdoseError(f"pkdose data file assays.toml: {b.drug} {b.method} ratio "
                              f"{b.ratio:g} lies outside its range {b.low:g}-{b.high:g}")
        biases[(b.drug, b.method)] = b
    return names, biases


def canonical_method(text: str) -> str:
    """The canonical name of an assay method (``architect`` -> ``CMIA``)."""
    names, _ = _tables()
    try:
        return names[_key(text)]
    except KeyError:
        known = ", ".join(sorted(set(names.values())))
        raise PkdoseError(f"unknown assay method {text!r}; known: {known}",
                          option="assay") from None


def assay_bias(drug: str, method: str) -> AssayBias:
    """The cited bias of ``method`` for ``drug`` (LC-MS/MS: ratio 1)."""
    name = canonical_method(method)
    meta = _method_table()[name]
    if meta["kind"] == "chromatographic":
        return AssayBias(drug, name, 1.0, 1.0, 1.0, meta.get("why", "the reference"), "")
    _, biases = _tables()
    try:
        return biases[(drug, name)]
    except KeyError:
        have = ", ".join(sorted(m for d, m in biases if d == drug))
        raise PkdoseError(f"no cited bias of {name} against LC-MS/MS for {drug} (cited: "
                          f"LC-MS/MS, {have}); convert the values to LC-MS/MS yourself or "
                          "give the method they were measured by", option="assay") from None


def to_lcms(values, drug: str, method: str | None):
    """Values (ng/mL) measured by ``method`` on the LC-MS/MS scale (``None``: unchanged)."""
    if method is None:
        return values
    ratio = assay_bias(drug, method).ratio
    return np.asarray(values, float) / ratio if np.ndim(values) else float(values) / ratio


def assays() -> pd.DataFrame:
    """Every cited (drug, method) bias: drug, method, ratio, low, high, chosen, source,
    doi, pmid."""
    _, biases = _tables()
    return pd.DataFrame([vars(b) for b in biases.values()],
                        columns=["drug", "method", "ratio", "low", "high", "chosen", "source",
                                 "doi", "pmid"])
