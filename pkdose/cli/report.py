"""pkdose report: one self-contained report for a batch of regimen files."""

from __future__ import annotations

import click

from pkdose.cli.options import population_options
from pkdose.cli.output import notice
from pkdose.cli.progress import file_progress

#: Exit status after Ctrl-C, as shells report a process ended by SIGINT (128 + 2).
INTERRUPTED_EXIT = 130
#: Exit status after SIGTERM (kill, a job scheduler's time limit): 128 + 15.
TERMINATED_EXIT = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the report runs so that it cleans up as after Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for report.html, metrics.csv, metrics.json, report.md and figures/ "
                   "(written as a whole at the end; a symbolic link is refused).")
@click.option("--against", metavar="GROUPS",
              help="Reference groups for nearest reference, ratios and target bands: "
                   "transplant, oncology, tsc, lam, ageing, all (comma-separated).")
@click.option("--format", "formats", default="html,csv,json,md", show_default=True,
              metavar="LIST", help="Outputs to write (comma-separated): html, csv, json, md.")
@population_options(None, "Also show each metric's 5-95 % interval over this many virtual "
                    "subjects (default 500 with --population), the share per verdict, and "
                    "the band in each figure.",
                    "Population of the intervals: older-adults, transplant-adults or a CSV "
                    "of covariates; with only --n, the typical subject with the model's "
                    "variability.")
@click.option("--file-timeout", "file_timeout_s", type=float, metavar="SECONDS",
              default=120.0, show_default=True,
              help="Time allowed to load and simulate one input file; a file that takes "
                   "longer is stopped and listed as not reported.")
def report(paths, out_dir, against, formats, n, population, seed, file_timeout_s):
    """One self-contained report for a batch of regimen files.

    Each PATH is a regimen TOML file, a folder of them (*.toml and *.csv, not recursive)
    or an event-table CSV (one regimen per ID). A file that cannot be read or simulated,
    fails in any other way or runs over --file-timeout is listed at the top of the report
    and on stderr, and the rest are still reported. The report's files in the folder are
    replaced as a whole at the end (other files are kept): a failed or interrupted run
    leaves the previous report as it was.
    Exit status: 0 all reported, 1 some files not reported (partial report written),
    2 bad usage or unwritable folder (nothing written), 3 a bug, 130 interrupted,
    143 terminated (SIGTERM).

    \b
    Example:
      pkdose report regimens/ --out report/ --against transplant,ageing
    """
    import shlex
    import signal

    from pkdose.comparison import POPULATION_N
    from pkdose.files import printable
    from pkdose.report import FILE_TIMEOUT_S, Variation, build_report

    notice()
    argv = ["pkdose", "report", *paths, "--out", out_dir]
    if against:
        argv += ["--against", against]
    if formats != "html,csv,json,md":
        argv += ["--format", formats]
    if file_timeout_s != FILE_TIMEOUT_S:
        argv += ["--file-timeout", f"{file_timeout_s:g}"]
    variation = None
    if population is not None or n is not None:
        variation = Variation(population, n or POPULATION_N, seed)
        argv += [*(["--population", population] if population else []), "--n",
                 str(variation.n), *(["--seed", str(seed)] if seed != 1 else [])]

    # Without a handler SIGTERM ends the process at once and leaves the staging folder.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        res = build_report(paths, out_dir, against=against, formats=formats.split(","),
                           command=shlex.join(argv), progress=file_progress,
                           file_timeout_s=file_timeout_s, variation=variation)
    except KeyboardInterrupt as exc:
        click.echo(f"pkdose: {'terminated' if isinstance(exc, Terminated) else 'interrupted'};"
                   " the output folder holds the previous report or the complete new one, "
                   "never a mix", err=True)
        click.get_current_context().exit(
            TERMINATED_EXIT if isinstance(exc, Terminated) else INTERRUPTED_EXIT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    for path in res.files:
        if path.parent.name != "figures":
            click.echo(f"wrote {printable(str(path))}", err=True)
    n_fig = sum(1 for p in res.files if p.parent.name == "figures")
    click.echo(f"wrote {n_fig} figures in {printable(out_dir.rstrip('/'))}/figures", err=True)
    if res.failed:
        click.echo(f"{len(res.failed)} not reported (a file, or one regimen of a file):", err=True)
        for path, reason in res.failed:
            click.echo(f"  {path}: {reason}", err=True)
        if any("time budget per file" in reason for _, reason in res.failed):
            click.echo("  (allow more time per file with --file-timeout SECONDS)", err=True)
        click.get_current_context().exit(1)
