"""Progress on stderr, for the commands that run long: all of it here, in one place."""

from __future__ import annotations

import sys
import time

import click


class ProgressBar:
    """Progress of a long run on stderr, once it has taken over ``after_s`` seconds.

    On a terminal, one bar redrawn in place with carriage returns, its line ended when the
    count is complete (or by :meth:`close`). Anywhere else (a log file, a pipe) a carriage
    return would pile every redraw onto one long line, so plain lines are written instead,
    at most one per ``every_s`` seconds, and a last one at the end. A quick run writes
    nothing.

    Parameters
    ----------
    label : str
        What runs, e.g. ``arm 1/2``.
    unit : str
        What is counted, e.g. ``subjects``.
    after_s, every_s : float
        Seconds before the first report; seconds between two plain lines.
    """

    def __init__(self, label: str, unit: str = "subjects", after_s: float = 2.0,
                 every_s: float = 10.0) -> None:
        self.label, self.unit, self.after_s, self.every_s = label, unit, after_s, every_s
        self.clock = time.monotonic
        self.start, self.shown, self.last = self.clock(), False, -float("inf")
        self.open_line = False  # a bar drawn on the terminal, its line not yet ended
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        elapsed = now - self.start
        finished = done >= total
        if elapsed < self.after_s and not self.shown:
            return
        if not self.tty and not (finished or now - self.last >= self.every_s):
            return
        self.shown, self.last = True, now
        rate = f", {done / elapsed:,.0f}/s" if elapsed > 0 else ""
        count = f"{done}/{total} {self.unit}{rate}"
        if not self.tty:
            click.echo(f"[{self.label}] {count}", err=True)
            return
        filled = int(30 * min(done, total) / max(total, 1))
        click.echo(f"\r[{self.label}] [{'#' * filled}{'.' * (30 - filled)}] {count}", err=True,
                   nl=finished)
        self.open_line = not finished

    def close(self) -> None:
        """End the bar's line if a run stopped short of its total."""
        if self.open_line:
            click.echo("", err=True)
            self.open_line = False


def file_progress(i: int, n: int, path: str) -> None:
    """One line per file of a batch, before it is read (control characters in the name
    shown escaped, so a file name cannot break the line or drive the terminal)."""
    from pkdose.files import printable

    click.echo(f"[{i}/{n}] {printable(path)}", err=True)


def dose_progress(k: int, dose: float) -> None:
    """One line per population simulation of the dose search."""
    click.echo(f"[find-dose] simulation {k}: {dose:.4g} mg", err=True)
