"""Command-line interface: a thin layer over the library (parse, call, format).

Results go to stdout; the research-use notice, warnings and errors go to stderr, so
output can be piped. Bad input exits with status 2 and one line on stderr.

One module per command or command group; each imports the library inside its command, so
that ``pkdose --help`` and ``--version`` load no numpy, pandas, scipy or matplotlib.
"""

from __future__ import annotations

import os
import re

import click

from pkdose import __version__
from pkdose.cli import (
    catalogue,
    compare,
    design,
    flag,
    individual,
    population,
    report,
    simulate,
    translate,
    validate,
)
from pkdose.errors import PkdoseError, PkdoseWarning, warning_messages

#: Unit endings of library parameter names that their options leave out (step_h: --step).
_UNIT = re.compile(r"_(h|s|y|days|kg|cm|pct|g_day)$")


def _err(msg: str) -> None:
    click.echo(f"pkdose: error: {msg}", err=True)


def error_line(exc: PkdoseError, command: click.Command | None) -> str:
    """The library's message, and the options of ``command`` (and of its subcommands) that
    change the library parameters it names."""
    params = [p for c in (command, *getattr(command, "commands", {}).values())
              for p in getattr(c, "params", ()) if isinstance(p, click.Option)]
    flags = dict.fromkeys(p.opts[0] for o in exc.options for p in params
                          if o == p.name or _UNIT.sub("", o) == p.opts[0][2:].replace("-", "_"))
    return str(exc) + (f" (option {', '.join(flags)})" if flags else "")


#: Exit status of a failure pkdose did not foresee (a bug), apart from 1 (partly done) and
#: 2 (bad input), so scripts can tell them apart.
BUG_EXIT = 3


class _Group(click.Group):
    """Bad input (PkdoseError) -> one line and exit status 2; anything else that escapes
    is a bug -> one line, where to report it, exit status 3 (``PKDOSE_DEBUG=1`` shows the
    traceback)."""

    def invoke(self, ctx):
        messages: list[str] = []
        try:
            # Once each: the PK and PD passes warn about the same regimen.
            with warning_messages(PkdoseWarning) as messages:
                return super().invoke(ctx)
        except PkdoseError as exc:
            _err(error_line(exc, self.commands.get(ctx.invoked_subcommand)))
            ctx.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place bugs are caught
            if os.environ.get("PKDOSE_DEBUG"):
                raise
            _err(f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                 "this is a bug in pkdose: please report the command that caused it "
                 "(run again with PKDOSE_DEBUG=1 for the traceback)")
            ctx.exit(BUG_EXIT)
        finally:
            for msg in messages:
                click.echo(f"warning: {msg}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pkdose")
def main() -> None:
    """pkdose: predicted whole-blood exposure of rapamycin (sirolimus) and everolimus regimens.

    \b
    Example:
      pkdose compare "rapamycin 1 mg daily" "rapamycin 6 mg weekly" "everolimus 5 mg weekly"

    For research and trial design only; not medical advice.
    """


for command in (simulate.simulate, compare.compare, report.report, catalogue.models,
                flag.flag, catalogue.references, catalogue.interactions, validate.validate,
                population.population, individual.individual, design.design,
                translate.translate):
    main.add_command(command)
