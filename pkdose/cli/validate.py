"""pkdose validate: regenerate docs/validation.md and print the reference-library summary."""

from __future__ import annotations

import click

from pkdose.cli.output import STDOUT, Outputs, notice, write
from pkdose.errors import PkdoseError


@click.command()
@click.option("--check", is_flag=True,
              help="Do not write: exit with status 2 if the page is stale.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write the page here instead (default: docs/validation.md in a source "
                   "checkout, else ./validation.md; -: stdout).")
def validate(check, out_path):
    """Regenerate docs/validation.md and print the reference-library summary per drug.

    Compares the shipped models with the published observations and with every observed
    exposure of the reference library (default model, typical subject, steady state,
    co-medication through the interaction layer). In a source checkout the page is
    docs/validation.md; otherwise --out (default ./validation.md).

    \b
    Example:
      pkdose validate
      pkdose validate --check
    """
    from pathlib import Path

    import pkdose
    from pkdose.dev.validation_report import reference_summary, reference_summary_lines, render
    from pkdose.validation import reference_validation

    notice()
    if check and out_path == STDOUT:
        raise PkdoseError("--check compares the page with a file; give --out FILE, not -")
    out = Outputs({"--out": out_path})
    docs = Path(pkdose.__file__).resolve().parents[1] / "docs"
    path = Path(out_path or (docs / "validation.md" if docs.is_dir() else "validation.md"))
    ref = reference_validation()
    text = render(ref)
    out.text("".join(f"{line}\n" for line in reference_summary_lines(reference_summary(ref))))
    if out_path == STDOUT:
        write(text, STDOUT)
        return
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if check:
        if old != text:
            again = "pkdose validate" + (f" --out {out_path}" if out_path else "")
            raise PkdoseError(f"{path} is stale; run {again}")
        click.echo(f"{path} is up to date", err=True)
    elif old != text:
        write(text, str(path))
