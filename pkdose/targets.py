"""One target grammar for every command and the API: what exposure or verdict to aim at.

::

    TARGET     := [STATISTIC] METRIC CONDITION  |  mTORC2 LABEL
    STATISTIC  := median | pN                      (N in 1-99: a population percentile)
    CONDITION  := <V | <=V | >V | >=V              (a bound)
                | =V                              (after a STATISTIC: a value to reach)
                | LOW-HIGH                        (a range, both ends included)
                | V                               (a point: within 80-125 % of V)
    LABEL      := spared | equivocal | inhibited

Examples: ``trough 5-10``, ``trough<3``, ``median Cavg>=2``, ``median Cavg=2``,
``AUC168 400``, ``mTORC1>=50%``, ``mTORC2 spared``. A concentration target may end with
the assay method it is stated for, ``trough 5-10 by CMIA``: :meth:`Target.on_lcms_scale`
converts it to the LC-MS/MS scale pkdose predicts on (``pkdose.assay``).

METRIC is any metric of the answer engine's registry (``pkdose.engine.QUANTITIES``) by
name or column, or a short name (``trough``, ``cavg``, ``auc168``, ``mtorc1``, ``mtorc2``,
...); mTORC1/mTORC2 values are fractions (0.5) or percentages (50%).
Concentrations are whole blood, ng/mL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from pkdose.errors import PkdoseError

if TYPE_CHECKING:
    from pkdose.engine import Quantity

#: A point target is met within this fraction of its value (the 80-125 % bioequivalence
#: range on the ratio scale).
POINT_TARGET = (0.8, 1.25)
#: Short metric names, case-insensitive.
SHORT_NAMES = {"trough": "Ctrough", "ctrough": "Ctrough", "cmin": "Cmin", "cmax": "Cmax",
               "cavg": "Cavg", "auc168": "AUC168", "auctau": "AUCtau",
               "mtorc1": "mTORC1 mean", "mtorc2": "mTORC2 mean"}
LABELS = ("spared", "equivocal", "inhibited")

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?%?"
_RE = re.compile(rf"^\s*(?:(?P<stat>median|p\d+(?:\.\d+)?)\s+)?(?P<metric>[A-Za-z][\w ]*?)\s*"
                 rf"(?:(?P<op><=|>=|<|>|=)\s*(?P<v>{_NUM})|(?P<lo>{_NUM})\s*-\s*(?P<hi>{_NUM})"
                 rf"|(?P<point>{_NUM}))\s*$", re.IGNORECASE)
_ASSAY = re.compile(r"\s+by\s+(\S+)\s*$", re.IGNORECASE)
_EXAMPLES = "e.g. trough 5-10, trough<3, median Cavg>=2, AUC168 400 or mTORC2 spared"


@dataclass(frozen=True)
class Target:
    """A parsed target.

    Attributes
    ----------
    text : str
        As written.
    column : str
        The engine column it reads (``mtorc2_verdict`` for a label target).
    op : str
        ``<``, ``<=``, ``>``, ``>=``, ``=``, ``range``, ``point`` or ``label``.
    low, high : float
        The accepted interval (bounds as written; a point target's 80-125 % range).
    label : str or None
        The verdict aimed at, for ``mTORC2 spared``.
    quantile : float or None
        A population percentile (0.5 for ``median``) the condition applies to, or None
        when it applies to each subject.
    value : float or None
        The number written (for a bound, ``=`` or a point).
    """

    text: str
    column: str
    op: str
    low: float = -math.inf
    high: float = math.inf
    label: str | None = None
    quantile: float | None = None
    value: float | None = None
    assay: str | None = None

    def on_lcms_scale(self, drug: str, assay: str | None = None) -> Target:
        """The target on the LC-MS/MS scale: bounds stated for an immunoassay (its own
        ``assay``, else ``assay``) divided by the method's cited bias for ``drug``."""
        from pkdose.assay import REFERENCE, assay_bias

        method = self.assay or assay
        concentration = self.column.endswith(("_ng_ml", "_ng_h_ml"))
        if method is None or method == REFERENCE or (not concentration and not self.assay):
            return self
        if not concentration:
            raise PkdoseError(f"target {self.text!r}: only concentration targets have an "
                              "assay method", option="assay")
        bias = assay_bias(drug, method)
        if not bias.converts:
            return replace(self, assay=REFERENCE)
        r = bias.ratio
        value = None if self.value is None else self.value / r
        lo, hi = self.low / r, self.high / r
        op = "" if self.op == "=" else self.op  # '(= 1.6 LC-MS/MS)', not '(= =1.6 ...)'
        shown = (f"{lo:.3g}-{hi:.3g}" if self.op in ("range", "point")
                 else f"{op}{(value if value is not None else lo):.3g}")
        named = "" if self.assay else f" by {bias.method}"
        return replace(self, text=f"{self.text}{named} (= {shown} LC-MS/MS)", low=lo, high=hi,
                       value=value, assay=REFERENCE)

    def met(self, values: Mapping[str, object] | object) -> np.ndarray:
        """Which subjects meet the target (per subject; the statistic is not applied).

        ``values`` is a mapping or frame with the target's column.
        """
        v = np.asarray(values[self.column])  # type: ignore[index]
        if self.op == "label":
            return v == self.label
        x = v.astype(float)
        return {"<": x < self.high, "<=": x <= self.high, ">": x > self.low,
                ">=": x >= self.low}.get(self.op, (x >= self.low) & (x <= self.high))

    @property
    def centre(self) -> float:
        """The middle of the accepted interval on the log scale (what a search aims at)."""
        if self.value is not None:
            return self.value
        return math.sqrt(self.low * self.high)


def _number(text: str, fraction: bool, where: str) -> float:
    pct = text.endswith("%")
    try:
        x = float(text.rstrip("%"))
    except ValueError:
        raise PkdoseError(f"cannot read the number {text!r} in target {where!r}") from None
    if pct:
        if not fraction:
            raise PkdoseError(f"target {where!r}: only mTORC1/mTORC2 take a percentage")
        x /= 100.0
    if not math.isfinite(x) or x < 0:
        raise PkdoseError(f"target {where!r} needs a finite value >= 0")
    if fraction and x > 1:
        raise PkdoseError(f"target {where!r}: mTORC1 and mTORC2 are fractions; write 0.8 "
                          "or 80%")
    return x


def metric_quantity(name: str) -> Quantity:
    """The engine's registry entry of a metric, by short name (case-insensitive), name or
    column."""
    from pkdose.engine import quantity

    key = str(name).strip()
    try:
        return quantity(SHORT_NAMES.get(key.lower(), key))
    except PkdoseError:
        raise PkdoseError(f"unknown metric {name!r}; use one of {', '.join(SHORT_NAMES)} "
                          "or a metric of pkdose.engine") from None


def parse_target(text: str | Target) -> Target:
    """Read a target (see the module docstring for the grammar)."""
    if isinstance(text, Target):
        return text
    s = " ".join(str(text).split())
    stated = _ASSAY.search(s)
    if stated:
        from pkdose.assay import canonical_method

        method = canonical_method(stated.group(1))
        return replace(parse_target(s[:stated.start()]), text=s, assay=method)
    low = s.lower()
    for label in LABELS:
        if low in (f"mtorc2 {label}", f"mtorc2 verdict {label}", f"mtorc2{label}"):
            return Target(s, "mtorc2_verdict", "label", label=label)
    m = _RE.match(s)
    if not m:
        raise PkdoseError(f"cannot read target {s!r}; write {_EXAMPLES}")
    name = m.group("metric").strip()
    try:
        q = metric_quantity(name)
    except PkdoseError:
        raise PkdoseError(f"unknown target metric {name!r} in {s!r}; use one of "
                          f"{', '.join(SHORT_NAMES)} or a metric of pkdose.engine") from None
    if q.unit in ("label", "text"):
        raise PkdoseError(f"target {s!r}: {q.name} is not a number; write e.g. mTORC2 spared")
    fraction = q.unit == "fraction"
    stat = m.group("stat")
    quantile = None
    if stat:
        quantile = 0.5 if stat.lower() == "median" else float(stat[1:]) / 100.0
        if not 0 < quantile < 1:
            raise PkdoseError(f"percentile in {s!r} must be within 1-99")
    if m.group("op"):
        op, v = m.group("op"), _number(m.group("v"), fraction, s)
        if op == "=" and quantile is None:
            raise PkdoseError(f"target {s!r}: one subject's value never equals a number "
                              f"exactly; write a range (e.g. {name} 2-3), a bound, or a "
                              f"population statistic (median {name}={m.group('v')})")
        lo, hi = {"<": (-math.inf, v), "<=": (-math.inf, v), ">": (v, math.inf),
                  ">=": (v, math.inf), "=": (v, v)}[op]
        return Target(s, q.column, op, lo, hi, quantile=quantile, value=v)
    if m.group("lo") is not None:
        lo, hi = _number(m.group("lo"), fraction, s), _number(m.group("hi"), fraction, s)
        if not lo < hi:
            raise PkdoseError(f"target {s!r} needs low < high")
        return Target(s, q.column, "range", lo, hi, quantile=quantile)
    v = _number(m.group("point"), fraction, s)
    if v <= 0:
        raise PkdoseError(f"target {s!r} needs a value > 0")
    return Target(s, q.column, "point", v * POINT_TARGET[0], v * POINT_TARGET[1],
                  quantile=quantile, value=v)


def lcms_band(drug: str, low: float | None, high: float | None, assay: str = ""
              ) -> tuple[float, float, str]:
    """A reference band (ng/mL; None for an open end) on the LC-MS/MS scale, and what was
    done: converted from an immunoassay with its cited bias, or the assumption made when
    no method is stated."""
    from pkdose.assay import NO_METHOD, assay_bias

    lo = math.nan if low is None else float(low)
    hi = math.nan if high is None else float(high)
    if not assay:
        return lo, hi, NO_METHOD
    bias = assay_bias(drug, assay)
    if not bias.converts:
        return lo, hi, f"stated for {bias.method}, taken as LC-MS/MS"
    stated = "-".join(f"{v:g}" for v in (low, high) if v is not None)
    return (lo / bias.ratio, hi / bias.ratio,
            f"stated as {stated} ng/mL by {bias.method}; divided by {bias.ratio:g}, its cited "
            "bias against LC-MS/MS")
