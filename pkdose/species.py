"""Animals as subjects: food intake and feeding pattern for diet dosing.

A diet dose is a concentration in food (ppm = mg of drug per kg of food). What an animal
swallows per day is ``ppm x food intake (g/day) / 1000`` mg, and it eats that over the day
in a species-specific pattern (mice eat mostly in the dark phase). Both are cited data in
``pkdose/data/food_intake.toml``:

* ``[[intake]]`` rows: ``species``, optional ``strain`` and ``sex``, ``food_g_day`` with
  its source; the most specific row matching a subject is used;
* ``[feeding.<species>]``: ``phases``, a list of ``{ start_h, hours, fraction }`` (hours
  from the start of the day, fractions summing to 1), with its source.

The day's intake enters the absorption depot as zero-order inputs, one per phase, so a
diet costs a few dose trains whatever the number of days (:func:`diet_trains`). Without a
``[feeding.<species>]`` table the day's food is eaten evenly over 24 h
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


def food_intake(species: str, strain: str = "", sex: str = "",
                data: Mapping | None = None) -> float:
    """Food eaten per day (g/day) by an animal of this species, strain and sex.

    Parameters
    ----------
    species, strain, sex : str
        The most specific ``[[intake]]`` row wins: species + strain + sex, then species +
        strain, species + sex, species alone.
    data : mapping, optional
        Parsed food-intake TOML (default: the shipped file).

    Raises
    ------
    PkdoseError
        When no row matches; the message says how to give the intake instead.
    """
    rows = (food_data() if data is None else data).get("intake", [])
    strain, sex = strain.strip().casefold(), sex.strip().casefold()

    def score(row: Mapping) -> int:
        if str(row.get("species", "")).casefold() != species:
            return -1
        s = 0
        for key, want, weight in (("strain", strain, 2), ("sex", sex, 1)):
            have = str(row.get(key, "")).strip().casefold()
            if have and have != want:
                return -1
            s += weight if have else 0
        return s

    best = max(rows, key=score, default=None)
    if best is None or score(best) < 0:
        raise PkdoseError(
            f"no food-intake data for a {species}"
            f"{' ' + strain if strain else ''}; give the intake, e.g. --food 4.5 (g/day)"
        )
    value = float(best["food_g_day"])
    if not (math.isfinite(value) and value > 0):
        raise PkdoseError(f"food intake for {species} must be positive, got {value!r}")
    return value


def feeding_pattern(species: str, data: Mapping | None = None) -> tuple[Phase, ...]:
    """The phases of the day in which a species eats (default :data:`EVEN_FEEDING`)."""
    table = (food_data() if data is None else data).get("feeding", {}).get(species)
    if not table:
        return EVEN_FEEDING
    phases = tuple(Phase(float(p["start_h"]), float(p["hours"]), float(p["fraction"]))
                   for p in table["phases"])
    total = sum(p.fraction for p in phases)
    if abs(total - 1.0) > 1e-9 or any(
        not (0 <= p.start_h < HOURS_PER_DAY and 0 < p.hours <= HOURS_PER_DAY and p.fraction > 0)
        for p in phases
    ):
        raise PkdoseError(f"feeding pattern of {species}: phases need 0 <= start_h < 24, "
                          f"0 < hours <= 24 and fractions > 0 summing to 1 (sum {total:g})")
    return phases


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
