"""Cited science as TOML data files, read once per process through :func:`load_toml`."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

from pkdose.errors import PkdoseError


def frozen(value: object) -> object:
    """A read-only copy: mappings become MappingProxyType and lists tuples, at any depth."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    return value


@cache
def load_toml(name: str) -> Mapping:
    """A shipped data file (``pkdose/data/<name>``), parsed once and shared read-only.

    Every caller gets the same object, so no caller can change what another reads.
    """
    try:
        with resources.files("pkdose.data").joinpath(name).open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise PkdoseError(f"pkdose data file {name} is missing; reinstall pkdose") from None
    except tomllib.TOMLDecodeError as exc:  # a broken installation, not user input
        raise PkdoseError(f"pkdose data file {name} is not valid TOML: {exc}") from None
    return frozen(raw)  # type: ignore[return-value]
