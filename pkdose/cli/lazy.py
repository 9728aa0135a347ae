"""numpy and pandas for the few places the CLI itself uses them, imported on first use.

Importing them up front would cost ``pkdose --help`` and ``--version`` about half a
second; a command that reaches the library imports them anyway.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class _Deferred:
    """Stands for a module and imports it when an attribute is first read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        module: ModuleType = importlib.import_module(self._name)
        return getattr(module, attr)


np = _Deferred("numpy")
pd = _Deferred("pandas")
