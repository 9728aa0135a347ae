"""Drug names: canonical names and their aliases, read from ``pkdose/data/drugs.toml``.

pkdose models two drugs, ``sirolimus`` and ``everolimus``. Users write them many ways
(rapamycin, Rapamune, RAD001, Afinitor, ...); everything else in pkdose works with the
canonical name returned by :func:`resolve_drug`.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
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
    """

    name: str
    aliases: tuple[str, ...]
    shown: tuple[str, ...]
    source: str


def _key(name: str) -> str:
    """Lookup key: case and runs of whitespace do not matter."""
    return " ".join(name.split()).casefold()


@functools.cache
def known_drugs() -> tuple[Drug, ...]:
    """All drugs pkdose models, in the order of the data file.

    Returns
    -------
    tuple of Drug
    """
    text = resources.files("pkdose.data").joinpath("drugs.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return tuple(
        Drug(
            name=name,
            aliases=tuple(entry.get("aliases", ())),
            shown=tuple(entry.get("shown", ())),
            source=entry.get("source", ""),
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
    canonical = resolve_drug(name)
    drug = next(d for d in known_drugs() if d.name == canonical)
    return (drug.name, *drug.aliases)


def all_drug_names() -> MappingProxyType[str, str]:
    """Every known name (lower case, single spaces) mapped to its canonical drug name."""
    return _index()
