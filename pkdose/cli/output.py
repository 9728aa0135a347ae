"""What every command shares in its output: the research-use notice, files it writes, and
the percent format of its tables."""

from __future__ import annotations

import click

from pkdose import NOTICE
from pkdose.errors import PkdoseError


def notice() -> None:
    click.echo(f"note: {NOTICE}", err=True)


def pct(v: float) -> str:
    return f"{100 * v:.0f}"


def write(text: str, path: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise PkdoseError(f"cannot write {path}: {exc.strerror}") from None
