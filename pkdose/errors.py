"""The one exception type pkdose raises for bad input, and warnings for extrapolation."""

from __future__ import annotations


class PkdoseError(ValueError):
    """Bad input a user can fix: the message says what was wrong and how to fix it.

    The CLI prints the message as one line on stderr and exits with status 2.
    """


class ExtrapolationWarning(UserWarning):
    """A dose, population or covariate lies outside the data the source model was fitted to."""
