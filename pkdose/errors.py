"""The one exception type pkdose raises for bad input, and the warnings it gives."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


class PkdoseError(ValueError):
    """Bad input a user can fix: the message says what was wrong and how to fix it.

    The CLI prints the message as one line on stderr and exits with status 2.

    Parameters
    ----------
    message : str
        What was wrong and how to fix it, in the library's words (never a CLI flag).
    option : str or tuple of str, optional
        The library parameter(s) to change (``food_g_day``, ``step_h``, ...); the CLI
        names its own option for each.
    """

    def __init__(self, message: str, option: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.options: tuple[str, ...] = (
            () if option is None else (option,) if isinstance(option, str) else tuple(option))


class PkdoseWarning(UserWarning):
    """A warning of pkdose's own: the CLI prints each once, as one line."""


class ExtrapolationWarning(PkdoseWarning):
    """A dose, population or covariate lies outside the data the source model was fitted to."""


class ConditionWarning(ExtrapolationWarning):
    """A condition of the subject (food, liver impairment, genotype, race) applied from a
    study outside the model's population, not applied for want of data, or its label dose
    advice."""


class FitWarning(PkdoseWarning):
    """An estimate that does not hold (see ``pkdose.diagnostics.FitDiagnostics``)."""


@contextmanager
def warning_messages(category: type[Warning] = ExtrapolationWarning
                     ) -> Iterator[list[str]]:
    """Collect, instead of showing, the warnings of ``category`` raised inside.

    Yields a list that holds each message once, in order, when the block ends (also when
    it raises); other warnings are shown as usual.
    """
    found: list[str] = []
    recorder = warnings.catch_warnings(record=True)
    caught = recorder.__enter__()
    warnings.simplefilter("always", category)
    try:
        yield found
    finally:
        recorder.__exit__(None, None, None)  # first, so the other warnings reach the user
        for w in caught:
            if not issubclass(w.category, category):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            elif str(w.message) not in found:
                found.append(str(w.message))
