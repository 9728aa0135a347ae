"""Children: the label's paediatric exposure factors, or a refusal where no data exist.

Every shipped model was fitted to adults. For everolimus the Afinitor label gives the
geometric-mean trough per mg/m2 dose of children with TSC-associated SEGA against adults
(54 % lower under 10 years, 40 % lower at 10-18 years; ``pkdose/data/paediatric.toml``).
A child's whole-blood concentrations are that ratio times those of the adult reference
subject on the same mg/m2 dose:

    C_child(t; dose_mg) = ratio(age) x C_adult_ref(t; dose_mg x BSA_ref / BSA_child)

which for a linear model is the adult reference's parameters with the apparent
bioavailability multiplied by ``ratio x BSA_ref / BSA_child`` (:class:`Bridge`). The
child's own age and size do not enter the adult model again.

For sirolimus a paediatric population model is shipped (Fan 2024, children 0.08-12 y with
vascular anomalies; ``pkdose/models/fan2024_sirolimus.toml``): when no model is named and
every subject is a child, it is the model (:func:`paediatric_model`). An adult sirolimus
model refuses a child younger than its source population, and the paediatric model a
child younger than its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pkdose.errors import PkdoseError
from pkdose.model import Model, covariate_table, default_subject, get_model

__all__ = ["Bridge", "coverage", "is_paediatric", "paediatric_bridge", "paediatric_model"]

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


def _ages(model: Model) -> str:
    rng = model.validity("age_y")
    return "not stated" if rng is None else f"{rng[0]:g}-{rng[1]:g} y"


def _ratio(bands, age: np.ndarray) -> np.ndarray:
    ratio = np.ones_like(age)
    for band in sorted(bands, key=lambda b: -b["below_age_y"]):  # youngest band last
        ratio = np.where(age < band["below_age_y"], band["cmin_per_mg_m2_ratio"], ratio)
    return ratio


def paediatric_model(drug: str, subjects) -> str | None:
    """The name of ``drug``'s paediatric model when every one of ``subjects`` is a child.

    ``subjects`` is a mapping or DataFrame of covariates (or None, the adult typical
    subject). None when the drug has no paediatric model, an age is not given, or any
    subject is an adult: a mixed population keeps the adult model, which then refuses its
    children.
    """
    data = _data().get(drug, {})
    if "model" not in data or not isinstance(subjects, (Mapping, pd.DataFrame)):
        return None
    age = subjects.get("age_y")
    if age is None:
        return None
    age = np.atleast_1d(np.asarray(age, dtype=float))
    return data["model"] if age.size and np.all(age < data["adult_age_y"]) else None


def is_paediatric(model: Model) -> bool:
    """Whether ``model`` is its drug's paediatric model (it refuses adults)."""
    return model.name == _data().get(model.drug, {}).get("model")


def paediatric_bridge(model: Model, cov: pd.DataFrame) -> Bridge | None:
    """The bridge for the children among ``cov`` (None when there are none).

    Raises PkdoseError for a child the data cannot describe (younger than the bridge's
    youngest age, or younger than the model's source population), and for an adult on
    the drug's paediatric model.
    """
    if model.is_animal or "age_y" not in cov:
        return None
    age = cov["age_y"].to_numpy(float)
    data = _data().get(model.drug, {})
    child = age < data.get("adult_age_y", 18.0)
    if is_paediatric(model) and not child.all():
        # Its weight exponents (1.23 on CL/F, 1.62 on V/F) were estimated up to 65 kg and
        # give adults volumes far beyond the adult models': adults are not extrapolated to.
        raise PkdoseError(f"{model.name} is a paediatric model (source ages "
                          f"{_ages(model)}); {int((~child).sum())} of {len(age)} subjects "
                          f"are adults (from {data['adult_age_y']:g} y): use an adult "
                          f"{model.drug} model for them", option="age_y")
    if not child.any():
        return None
    who = "a child" if len(age) == 1 else f"{int(child.sum())} of {len(age)} subjects"
    youngest = float(age[child].min())
    if "band" not in data:
        fitted = model.validity("age_y")
        if fitted is None or youngest < fitted[0]:
            why = data["min_age_why"] if is_paediatric(model) else data["refusal"]
            raise PkdoseError(f"{model.drug} for {who} aged {youngest:g} y: {model.name} "
                              f"source ages {_ages(model)}; {why}", option="age_y")
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
    if "model" in data:
        paed = get_model(data["model"])
        return (f"under {data['adult_age_y']:g} y, the paediatric model {paed.name} "
                f"(source ages {_ages(paed)}) when no model is chosen; refused under "
                f"{paed.validity('age_y')[0]:g} y (docs/user-guide.md, Children)")
    if "band" not in data:
        return ("refused below the model's source ages (no paediatric data shipped; "
                "docs/user-guide.md, Children)")
    ratios = ", ".join(f"{b['cmin_per_mg_m2_ratio']:g} below {b['below_age_y']:g} y"
                       for b in data["band"])
    return (f"under {data['adult_age_y']:g} y, the adult reference times the label's trough "
            f"ratio per mg/m2 ({ratios}); refused under {data['min_age_y']:g} y")
