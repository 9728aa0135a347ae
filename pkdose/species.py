"""Animals as subjects: food intake and feeding pattern for diet dosing.

A diet dose is a concentration in food (ppm = mg of drug per kg of food). What an animal
swallows per day is ``ppm x food intake (g/day) / 1000`` mg, and it eats that over the day
in a species-specific pattern (mice eat mostly in the dark phase). Both are cited data in
``pkdose/data/food_intake.toml``:

* ``[[intake]]`` rows: ``species``, ``strain``, ``sex`` and either ``food_g_day`` or
  ``derived.food_g_per_g_bw_day`` (food per body weight, so intake scales with weight),
  with their source; rows without an intake rate (spillage, ...) are context. The row
  marked ``default = true`` for the species is used unless a row matches the subject's
  strain or sex exactly;
* ``[feeding_pattern.<species>]``: ``dark_fraction_default`` of the day's food eaten over
  the ``dark_phase_h`` dark hours, the rest over the light hours. pkdose's day starts at
  lights-on: light phase first, dark phase at the end of each day.

The day's intake enters the absorption depot as zero-order inputs, one per phase, so a
diet costs a few dose trains whatever the number of days (:func:`diet_trains`). Without a
``[feeding_pattern.<species>]`` table the day's food is eaten evenly over 24 h
(:data:`EVEN_FEEDING`), the documented default.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

from pkdose.errors import PkdoseError
from pkdose.regimen import HOURS_PER_DAY, DoseTrain

__all__ = ["EVEN_FEEDING", "Phase", "diet_trains", "feeding_pattern", "food_intake",
           "food_data"]


@dataclass(frozen=True)
class Phase:
    """Part of the day in which a fraction of the day's food is eaten at a constant rate."""

    start_h: float
    hours: float
    fraction: float


#: The day's food eaten at a constant rate over 24 h.
EVEN_FEEDING = (Phase(0.0, HOURS_PER_DAY, 1.0),)

_DATA_FILE = "food_intake.toml"


@lru_cache(maxsize=1)
def _shipped() -> Mapping:
    path = resources.files("pkdose.data").joinpath(_DATA_FILE)
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def food_data() -> Mapping:
    """The shipped food-intake data (``pkdose/data/food_intake.toml``; empty if absent)."""
    return _shipped()


def _intake_rate(row: Mapping, weight_kg: float) -> float | None:
    """g food/day of an intake row, or None for a row that is not an intake rate."""
    if "food_g_day" in row:
        return float(row["food_g_day"])
    per_bw = row.get("food_g_per_g_bw_day", row.get("derived", {}).get("food_g_per_g_bw_day"))
    return None if per_bw is None else float(per_bw) * weight_kg * 1000.0


def food_intake(species: str, weight_kg: float, strain: str = "", sex: str = "",
                data: Mapping | None = None) -> float:
    """Food eaten per day (g/day) by an animal of this species, weight, strain and sex.

    Parameters
    ----------
    species : str
    weight_kg : float
        Body weight; intakes given per body weight scale with it.
    strain, sex : str
        A row naming exactly this strain wins over the species default row, which wins
        over a row naming only the sex; rows for the other sex are skipped.
    data : mapping, optional
        Parsed food-intake TOML (default: the shipped file).

    Raises
    ------
    PkdoseError
        When no intake-rate row exists for the species; the message says how to give it.
    """
    sex = sex.strip().casefold()
    rows = [r for r in (food_data() if data is None else data).get("intake", [])
            if str(r.get("species", "")).casefold() == species
            and _intake_rate(r, weight_kg) is not None
            # A row for the other sex does not apply ("both" or unstated rows do).
            and str(r.get("sex", "")).casefold() not in {"male", "female"} - {sex}]

    def score(row: Mapping) -> tuple:
        same = [str(row.get(k, "")).strip().casefold() == v.strip().casefold() != ""
                for k, v in (("strain", strain), ("sex", sex))]
        return (same[0], bool(row.get("default", False)), same[1])

    if not rows:
        raise PkdoseError(
            f"no food-intake data for a {species}; give the intake in g/day (covariate "
            "food_g_day), e.g. 4.5", option="food_g_day")
    value = _intake_rate(max(rows, key=score), weight_kg)
    if not (math.isfinite(value) and value > 0):
        raise PkdoseError(f"food intake for {species} must be positive, got {value!r}")
    return value


def feeding_pattern(species: str, data: Mapping | None = None) -> tuple[Phase, ...]:
    """The phases of the day in which a species eats (default :data:`EVEN_FEEDING`)."""
    table = (food_data() if data is None else data).get("feeding_pattern", {}).get(species)
    if not table or "dark_fraction_default" not in table:
        return EVEN_FEEDING
    dark_h = float(table.get("dark_phase_h", 12.0))
    frac = float(table["dark_fraction_default"])
    if not (0 < dark_h < HOURS_PER_DAY and 0 < frac < 1):
        raise PkdoseError(f"feeding pattern of {species}: needs 0 < dark_phase_h < 24 and "
                          f"0 < dark_fraction_default < 1, got {dark_h:g} h and {frac:g}")
    light_h = HOURS_PER_DAY - dark_h
    return (Phase(0.0, light_h, 1.0 - frac), Phase(light_h, dark_h, frac))


def diet_trains(trains: Sequence[DoseTrain], pattern: Sequence[Phase] = EVEN_FEEDING
                ) -> tuple[DoseTrain, ...]:
    """Replace each diet train (one day's food per dose) by one zero-order train per phase.

    The other trains pass through. Each phase train keeps the day's times and count, and
    carries its fraction of the amount as an input over the phase's hours.
    """
    out = []
    for tr in trains:
        if tr.route != "diet" or tr.infusion_h > 0:
            out.append(tr)
            continue
        for ph in pattern:
            out.append(replace(tr, t0_h=tr.t0_h + ph.start_h, amount=tr.amount * ph.fraction,
                               infusion_h=ph.hours))
    return tuple(out)
