"""Progress on stderr, for the commands that run long: all of it here, in one place."""

from __future__ import annotations

import sys
import time

import click


class ProgressBar:
    """A one-line progress bar on stderr, shown once a run has taken over 2 seconds.

    Drawn only when stderr is a terminal: redrawn with carriage returns, it would fill a
    log file or a pipe with one long line.
    """

    def __init__(self, label: str, after_s: float = 2.0) -> None:
        self.label, self.after_s, self.clock = label, after_s, time.monotonic
        self.start, self.shown = time.monotonic(), False
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        elapsed = self.clock() - self.start
        if not self.tty or (elapsed < self.after_s and not self.shown):
            return
        self.shown = True
        filled = int(30 * done / max(total, 1))
        rate = done / elapsed if elapsed > 0 else 0.0
        click.echo(f"\r[{self.label}] [{'#' * filled}{'.' * (30 - filled)}] "
                   f"{done}/{total} subjects, {rate:,.0f}/s", err=True, nl=False)

    def close(self) -> None:
        """End the bar's line (if it was shown)."""
        if self.shown:
            click.echo("", err=True)


def stderr_progress(what: str):
    """About 15 lines at most on stderr, however long the run."""

    def report(done, total):
        if done == total or done % max(1, total // 14) == 0:
            click.echo(f"[{what}] {done}/{total}", err=True)

    return report


def file_progress(i: int, n: int, path: str) -> None:
    """One line per file of a batch, before it is read (control characters in the name
    shown escaped, so a file name cannot break the line or drive the terminal)."""
    from pkdose.files import printable

    click.echo(f"[{i}/{n}] {printable(path)}", err=True)


def dose_progress(k: int, dose: float) -> None:
    """One line per population simulation of the dose search."""
    click.echo(f"[find-dose] simulation {k}: {dose:.4g} mg", err=True)
