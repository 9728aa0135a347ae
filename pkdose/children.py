"""Children: the label's paediatric exposure factors, or a refusal where no data exist.

Every shipped model was fitted to adults. For everolimus the Afinitor label gives the
geometric-mean trough per mg/m2 dose of children with TSC-associated SEGA against adults
(54 % lower under 10 years, 40 % lower at 10-18 years; ``pkdose/data/paediatric.toml``).
A child's whole-blood concentrations are that ratio times those of the adult reference
subject on the same mg/m2 dose:

    C_child(t; dose_mg) = ratio(age) x C_adult_ref(t; dose_mg x BSA_ref / BSA_child)

which for a linear model is the adult reference's parameters with the apparent
bioavailability multiplied by ``ratio x BSA_ref / BSA_child`` (:class:`Bridge`). The
child's own age and size do not enter the adult model again. For sirolimus no paediatric
data are shipped: a child younger than the model's source population is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pkdose.errors import PkdoseError
from pkdose.model import Model, covariate_table, default_subject

__all__ = ["Bridge", "coverage", "paediatric_bridge"]

#: The covariates of the adult reference subject a child's model parameters take.
_REFERENCE_KEYS = ("weight_kg", "height_cm", "age_y")


def _data() -> Mapping:
    from pkdose.data import load_toml

    return load_toml("paediatric.toml")


@dataclass(frozen=True)
class Bridge:
    """How the children among the subjects are simulated.

    Attributes
    ----------
    model_cov : DataFrame
        The covariates the model's parameters are computed from: the adult reference's
        weight, height, age (and fat-free mass and BSA derived from them) for children.
    f_multiplier : array (n,)
        Multiplier of the apparent bioavailability (1 for adults).
    messages : tuple of str
        What was done, one line per age band (for a warning).
    """

    model_cov: pd.DataFrame
    f_multiplier: np.ndarray
    messages: tuple[str, ...]

    def apply(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Solver parameters with every bioavailability (``f``, ``f_<route>``) scaled."""
        out = dict(params)
        for key in params:
            if key == "f" or key.startswith("f_"):
                out[key] = params[key] * self.f_multiplier
        return out


def _ratio(bands, age: np.ndarray) -> np.ndarray:
    ratio = np.ones_like(age)
    for band in sorted(bands, key=lambda b: -b["below_age_y"]):  # youngest band last
        ratio = np.where(age < band["below_age_y"], band["cmin_per_mg_m2_ratio"], ratio)
    return ratio


def paediatric_bridge(model: Model, cov: pd.DataFrame) -> Bridge | None:
    """The bridge for the children among ``cov`` (None when there are none).

    Raises PkdoseError for a child the data cannot describe: younger than the bridge's
    youngest age, or of a drug with no paediatric data and younger than the model's
    source population.
    """
    if model.is_animal or "age_y" not in cov:
        return None
    age = cov["age_y"].to_numpy(float)
    data = _data().get(model.drug, {})
    child = age < data.get("adult_age_y", 18.0)
    if not child.any():
        return None
    who = "a child" if len(age) == 1 else f"{int(child.sum())} of {len(age)} subjects"
    youngest = float(age[child].min())
    if "band" not in data:
        fitted = model.validity("age_y")
        if fitted is None or youngest < fitted[0]:
            raise PkdoseError(f"{model.drug} for {who} aged {youngest:g} y: "
                              f"{data.get('refusal', 'no paediatric data are shipped')}; "
                              "pkdose gives no paediatric prediction", option="age_y")
        return None
    if youngest < data["min_age_y"]:
        raise PkdoseError(f"{model.drug} for {who} aged {youngest:g} y: the paediatric data "
                          f"begin at {data['min_age_y']:g} y ({data['min_age_why']})",
                          option="age_y")
    ref = default_subject()
    model_cov = cov.copy()
    rows = cov.loc[child, [c for c in cov.columns if c not in ("ffm_kg", "bsa_m2")]].copy()
    for key in _REFERENCE_KEYS:
        rows[key] = ref[key]
    model_cov.loc[child, ["ffm_kg", "bsa_m2", *_REFERENCE_KEYS]] = covariate_table(
        rows)[["ffm_kg", "bsa_m2", *_REFERENCE_KEYS]].to_numpy()
    bsa_ref = float(covariate_table({k: ref[k] for k in ("weight_kg", "height_cm")})
                    ["bsa_m2"].iloc[0])
    ratio = _ratio(data["band"], age)
    mult = np.where(child, ratio * bsa_ref / cov["bsa_m2"].to_numpy(float), 1.0)
    oldest = float(age[child].max())
    ages = f"{youngest:g} y" if oldest == youngest else f"{youngest:g}-{oldest:g} y"
    messages = tuple(
        f"{model.drug} for {who} aged {ages}: "
        f"{model.name} was fitted to adults; the exposure is the adult reference subject's "
        f"({ref['weight_kg']:g} kg, {ref['height_cm']:g} cm, BSA {bsa_ref:.2f} m2) on the "
        f"same mg/m2 dose times the label's trough ratio "
        + ", ".join(f"{b['cmin_per_mg_m2_ratio']:g} below {b['below_age_y']:g} y"
                    for b in data["band"])
        + f" ({data['label']})" for _ in (0,))
    return Bridge(model_cov, mult, messages)


def coverage(drug: str) -> str:
    """One line: what pkdose does for a child on ``drug``."""
    data = _data().get(drug, {})
    if "band" not in data:
        return ("refused below the model's source ages (no paediatric data shipped; "
                "docs/user-guide.md, Children)")
    ratios = ", ".join(f"{b['cmin_per_mg_m2_ratio']:g} below {b['below_age_y']:g} y"
                       for b in data["band"])
    return (f"under {data['adult_age_y']:g} y, the adult reference times the label's trough "
            f"ratio per mg/m2 ({ratios}); refused under {data['min_age_y']:g} y")
