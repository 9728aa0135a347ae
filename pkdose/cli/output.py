"""What every command shares in its output: the research-use notice, files it writes (``-``
is stdout), CSV precision, and the percent format of its tables.

The conventions (docs/cli.md, "Output conventions"): ``-`` names stdout for every option
that writes text (``--csv -``, ``--json -``); when data goes to stdout, the command's
human-readable text goes to stderr, so stdout is one clean CSV or JSON stream. A figure is
not text: ``--plot -`` is refused.
"""

from __future__ import annotations

import click

from pkdose import NOTICE
from pkdose.errors import PkdoseError

#: The file name that means standard output, as in most Unix tools.
STDOUT = "-"


def notice() -> None:
    click.echo(f"note: {NOTICE}", err=True)


def pct(v: float) -> str:
    from pkdose.results import number

    return number(100 * v, ".0f")


class Outputs:
    """The text outputs of one run, by option: which (at most one) is stdout.

    Parameters
    ----------
    paths : mapping of option name to path or None
        e.g. ``{"--csv": csv_path, "--json": json_path}``; ``-`` is stdout.

    Raises
    ------
    PkdoseError
        When two options ask for stdout: their streams would be mixed.
    """

    def __init__(self, paths: dict[str, str | None]) -> None:
        on_stdout = [opt for opt, path in paths.items() if path == STDOUT]
        if len(on_stdout) > 1:
            raise PkdoseError(f"{' and '.join(on_stdout)} both ask for stdout (-); send all "
                              "but one of them to a file")
        self.data_on_stdout = bool(on_stdout)

    def text(self, text: str) -> None:
        """The human-readable result: stdout, or stderr when data has stdout."""
        click.echo(text, nl=False, err=self.data_on_stdout)


def write(text: str, path: str) -> None:
    """Write ``text`` to ``path`` (``-``: stdout) and say so on stderr."""
    if path == STDOUT:
        click.echo(text, nl=False)
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise PkdoseError(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"wrote {path}", err=True)


def write_csv(frame, path: str, float_format: str) -> None:
    """The one CSV writer of the commands: no index, floats in ``float_format`` (the value
    of ``--precision``, see ``options.precision_option``); ``-`` is stdout."""
    write(frame.to_csv(index=False, float_format=float_format), path)

