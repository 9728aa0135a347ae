"""The one exception type pkdose raises for bad input, and the warnings it gives."""

from __future__ import annotations


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


class ExtrapolationWarning(UserWarning):
    """A dose, population or covariate lies outside the data the source model was fitted to."""


class FitWarning(UserWarning):
    """An estimate that does not hold (see ``pkdose.diagnostics.FitDiagnostics``)."""
