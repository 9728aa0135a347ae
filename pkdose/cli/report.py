"""pkdose report: one self-contained report for a batch of regimen files."""

from __future__ import annotations

import click

from pkdose.cli.output import notice
from pkdose.cli.progress import file_progress


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for report.html, metrics.csv, metrics.json, report.md and figures/.")
@click.option("--against", metavar="GROUPS",
              help="Reference groups for nearest reference, ratios and target bands: "
                   "transplant, oncology, tsc, lam, ageing, all (comma-separated).")
@click.option("--format", "formats", default="html,csv,json,md", show_default=True,
              metavar="LIST", help="Outputs to write (comma-separated): html, csv, json, md.")
def report(paths, out_dir, against, formats):
    """One self-contained report for a batch of regimen files.

    Each PATH is a regimen TOML file, a folder of them (*.toml and *.csv, not recursive)
    or an event-table CSV (one regimen per ID). A file that cannot be read or simulated is
    listed at the top of the report and on stderr, and the rest are still reported.
    Exit status: 0 all reported, 1 some files failed (partial report written), 2 bad usage
    (nothing readable, unwritable folder). Population bands are not available yet.

    \b
    Example:
      pkdose report regimens/ --out report/ --against transplant,ageing
    """
    import shlex

    from pkdose.report import build_report

    notice()
    argv = ["pkdose", "report", *paths, "--out", out_dir]
    if against:
        argv += ["--against", against]
    if formats != "html,csv,json,md":
        argv += ["--format", formats]

    res = build_report(paths, out_dir, against=against, formats=formats.split(","),
                       command=shlex.join(argv), progress=file_progress)
    for path in res.files:
        if path.parent.name != "figures":
            click.echo(f"wrote {path}", err=True)
    n_fig = sum(1 for p in res.files if p.parent.name == "figures")
    click.echo(f"wrote {n_fig} figures in {out_dir.rstrip('/')}/figures", err=True)
    if res.failed:
        click.echo(f"{len(res.failed)} file(s) not reported:", err=True)
        for path, reason in res.failed:
            click.echo(f"  {path}: {reason}", err=True)
        click.get_current_context().exit(1)
