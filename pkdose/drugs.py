"""Drug names: canonical names and their aliases, read from ``pkdose/data/drugs.toml``.

pkdose models two drugs, ``sirolimus`` and ``everolimus``. Users write them many ways
(rapamycin, Rapamune, RAD001, Afinitor, ...); everything else in pkdose works with the
canonical name returned by :func:`resolve_drug`.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from types import MappingProxyType

from pkdose.errors import PkdoseError


@dataclass(frozen=True)
class Drug:
    """One drug pkdose models.

    Parameters
    ----------
    name : str
        Canonical name (lower case), e.g. ``"sirolimus"``.
    aliases : tuple of str
        Other names that resolve to ``name``, as spelled in the data file.
    shown : tuple of str
        The best-known aliases, quoted in error messages.
    source : str
        Where the names come from (drug labels).
    tablet_strengths_mg : tuple of float
        Marketed oral tablet strengths, smallest first.
    tablets_source : str
        The labels the strengths come from.
    """

    name: str
    aliases: tuple[str, ...]
    shown: tuple[str, ...]
    source: str
    tablet_strengths_mg: tuple[float, ...] = ()
    tablets_source: str = ""


def _key(name: str) -> str:
    """Lookup key: case and runs of whitespace do not matter."""
    return " ".join(name.split()).casefold()


@functools.cache
@functools.cache
def known_drugs() -> tuple[Drug, ...]:
    """All drugs pkdose models, in the order of the data file.

    Returns
    -------
    tuple of Drug
    """
    from pkdose.data import load_toml

    data = load_toml("drugs.toml")
    return tuple(
        Drug(
            name=name,
            aliases=tuple(entry.get("aliases", ())),
            shown=tuple(entry.get("shown", ())),
            source=entry.get("source", ""),
            tablet_strengths_mg=tuple(sorted(float(x) for x in
                                             entry.get("tablet_strengths_mg", ()))),
            tablets_source=entry.get("tablets_source", ""),
        )
        for name, entry in data.items()
    )


@functools.cache
def _index() -> MappingProxyType[str, str]:
    index: dict[str, str] = {}
    for drug in known_drugs():
        for alias in (drug.name, *drug.aliases):
            index[_key(alias)] = drug.name
    return MappingProxyType(index)


def unknown_drug_message(name: str) -> str:
    """The one-line message for a drug name pkdose does not know."""
    parts = [f"{d.name} ({', '.join(d.shown)})" if d.shown else d.name for d in known_drugs()]
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"unknown drug {name!r}; pkdose models {listing}"


def resolve_drug(name: str) -> str:
    """Canonical name of a drug given any of its names, ignoring case.

    Parameters
    ----------
    name : str
        E.g. ``"Rapamycin"``, ``"RAD001"``, ``"sirolimus"``.

    Returns
    -------
    str
        ``"sirolimus"`` or ``"everolimus"``.

    Raises
    ------
    PkdoseError
        For a name that is not a known drug or alias.
    """
    canonical = _index().get(_key(name)) if isinstance(name, str) else None
    if canonical is None:
        raise PkdoseError(unknown_drug_message(str(name)))
    return canonical


def drug_aliases(name: str) -> tuple[str, ...]:
    """All names of a drug, canonical name first.

    Parameters
    ----------
    name : str
        Any name of the drug.

    Returns
    -------
    tuple of str
        E.g. ``("sirolimus", "rapamycin", "Rapamune", "sirolimus (Rapamune)")``.
    """
    drug = get_drug(name)
    return (drug.name, *drug.aliases)


def all_drug_names() -> MappingProxyType[str, str]:
    """Every known name (lower case, single spaces) mapped to its canonical drug name."""
    return _index()


def get_drug(name: str) -> Drug:
    """The :class:`Drug` record for any of a drug's names."""
    canonical = resolve_drug(name)
    return next(d for d in known_drugs() if d.name == canonical)


def tablet_doses(name: str, max_tablets: int = 4, max_mg: float = math.inf
                 ) -> tuple[float, ...]:
    """Every dose (mg) one intake of at most ``max_tablets`` marketed tablets can make.

    Parameters
    ----------
    name : str
        Any name of the drug.
    max_tablets : int
        Most tablets taken at once (sums of 1..max_tablets tablets, strengths may repeat).
    max_mg : float
        Largest dose kept.

    Returns
    -------
    tuple of float
        Sorted distinct doses, e.g. sirolimus with 2 tablets: 0.5, 1, 1.5, 2, 2.5, 3, 4.
    """
    if not (isinstance(max_tablets, int) and max_tablets >= 1):
        raise PkdoseError(f"max_tablets must be a whole number >= 1, got {max_tablets!r}")
    drug = get_drug(name)
    doses = {round(sum(c), 6)
             for k in range(1, max_tablets + 1)
             for c in itertools.combinations_with_replacement(drug.tablet_strengths_mg, k)}
    out = tuple(sorted(d for d in doses if d <= max_mg))
    if not out:  # no tablets at all (temsirolimus is infused), or none that small
        up_to = f" up to {max_mg:g} mg" if math.isfinite(max_mg) else ""
        made = ", ".join(f"{s:g} mg" for s in drug.tablet_strengths_mg) or "none"
        raise PkdoseError(f"no {drug.name} tablet dose{up_to} (tablets in "
                          f"pkdose/data/drugs.toml: {made})")
    return out


def nearest_tablet_dose(name: str, dose_mg: float, max_tablets: int = 4) -> float:
    """The tablet-made dose closest to ``dose_mg`` on a log scale (ties: the lower)."""
    if not (math.isfinite(dose_mg) and dose_mg > 0):
        raise PkdoseError(f"dose must be a positive number of mg, got {dose_mg!r}")
    doses = tablet_doses(name, max_tablets)
    return min(doses, key=lambda d: (abs(math.log(d / dose_mg)), d))
