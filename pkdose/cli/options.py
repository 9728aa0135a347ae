"""Options shared by several commands: the parsers of their values and the decorators that
declare them."""

from __future__ import annotations

import math
import os
import re

import click

from pkdose.cli.output import STDOUT
from pkdose.errors import PkdoseError


def parse_duration(text: str, what: str) -> float:
    """'12w', '84d', '36h', '30min' (the time units of regimen text) or a bare number of
    hours."""
    from pkdose.regimen_text import hours_of

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*([a-z]*)\s*", str(text).lower())
    value = hours_of(float(m.group(1)), m.group(2) or "h") if m else None
    if value is None:
        raise PkdoseError(f"cannot read {what} {text!r}; write e.g. 12w, 84d, 36h or 30min")
    if not (math.isfinite(value) and value > 0):
        raise PkdoseError(f"{what} must be positive, got {text!r}")
    return value


def parse_window(text: str) -> tuple[float, float]:
    """'0-1w', '5w-6w', '24-48' (hours) -> (start_h, end_h)."""
    lo, sep, hi = str(text).partition("-")
    if not sep:
        raise PkdoseError(f"cannot read --window {text!r}; write START-END, e.g. 0-1w or 5w-6w")
    start = 0.0 if lo.strip() in ("0", "0h", "0d", "0w") else parse_duration(lo, "--window start")
    return start, parse_duration(hi, "--window end")


def parse_params(items: tuple[str, ...]) -> dict[str, float]:
    """``("cl=7.5", "v1=50")`` -> dict."""
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip().lower()] = float(val)
        except ValueError:
            raise PkdoseError(f"cannot read --param {item!r}; write NAME=VALUE, e.g. cl=7.5") \
                from None
    return out


def subject_from_options(weight, height, sex, age, hct, covariate) -> dict:
    """Covariates given on the command line (the rest take the typical subject's values)."""
    named = {"weight_kg": weight, "height_cm": height, "age_y": age, "hct_pct": hct,
             "sex": sex or None}
    subj: dict[str, object] = {k: v for k, v in named.items() if v is not None}
    from pkdose.model import parse_covariates  # here, not at the top: it loads numpy, pandas

    ctx = click.get_current_context(silent=True)
    given = ctx.meta.get(_CONDITIONS_KEY, {}) if ctx is not None else {}
    # --weight 80 --covariate weight=90 let the later silently win.
    for key, value in [*parse_covariates(list(covariate)).items(), *given.items()]:
        if key in subj and not _same(subj[key], value):
            raise PkdoseError(f"{key} is given twice ({subj[key]} and {value}); give it once",
                              option=key)
        subj[key] = value
    return subj


def _same(a: object, b: object) -> bool:
    """One value however it was written (80, 80.0, '80'; 'B', 'b')."""
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).strip().lower() == str(b).strip().lower()


#: Where the condition options (--fed, --child-pugh) leave their covariates for
#: :func:`subject_from_options`, so every command that takes a subject gets them once.
_CONDITIONS_KEY = "pkdose.conditions"


def _condition(column: str):
    def store(ctx, param, value):
        if value not in (None, False):
            ctx.meta.setdefault(_CONDITIONS_KEY, {})[column] = (
                "fed" if value is True else str(value))
        return value

    return store


def condition_options(f):
    """--fed and --child-pugh: conditions of the subject (docs/conditions.md)."""
    f = click.option("--child-pugh", type=click.Choice(["A", "B", "C"], case_sensitive=False),
                     expose_value=False, callback=_condition("child_pugh"),
                     help="Liver impairment by Child-Pugh class: cited CL/F changes "
                          "(Zimmerman 2005/2008, Kovarik 2001, Afinitor label) and the "
                          "label's dose advice (docs/conditions.md).")(f)
    return click.option("--fed", is_flag=True, expose_value=False,
                        callback=_condition("fed"),
                        help="Doses taken with a high-fat meal (default fasted): F, "
                             "absorption rate and lag solved per model from the cited "
                             "AUC/Cmax/Tmax ratios (docs/conditions.md). Also a regimen "
                             "word: 'with food'.")(f)


def parse_when(text: str) -> tuple[str, float | None]:
    """``"2026-03-09+12h"`` -> ("2026-03-09", 12.0); the delay is optional."""
    m = re.fullmatch(r"\s*(.+?)\s*\+\s*([0-9.]+\s*[a-z]*)\s*", str(text))
    if m:
        return m.group(1), parse_duration(m.group(2), "delay")
    return str(text).strip(), None


def parse_bands(items: tuple[str, ...]) -> list[tuple[str, float, float]]:
    """``("3-8:transplant target",)`` -> [(label, 3.0, 8.0)]."""
    out = []
    for item in items:
        rng, _, label = item.partition(":")
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*-\s*([0-9]*\.?[0-9]+)\s*", rng)
        if not m or float(m.group(1)) >= float(m.group(2)):
            raise PkdoseError(
                f"cannot read --band {item!r}; write LOW-HIGH[:label], e.g. 3-8:target"
            )
        out.append((label.strip() or f"{m.group(1)}-{m.group(2)} ng/mL", float(m.group(1)),
                    float(m.group(2))))
    return out


def figure_path(ctx, param, value):
    """Click callback of ``--plot``: a figure is not text, so ``-`` (stdout) is refused, and
    a format matplotlib cannot write is refused before the work, not after it."""
    if value == "-":
        raise PkdoseError(f"{param.opts[0]} - : a figure cannot go to stdout; give a file "
                          f"name such as fig.png (or fig.svg, fig.pdf)")
    if value is not None:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = FigureCanvasBase.get_supported_filetypes()
        if os.path.splitext(value)[1][1:].lower() not in formats:
            raise PkdoseError(f"{param.opts[0]} {value}: name the figure format by its ending, "
                              f"one of .{', .'.join(sorted(formats))}")
    return value


def plot_option(plot_help: str, log: bool = True):
    """--plot FILE (a figure, never stdout) and, with ``log``, --log."""

    def deco(f):
        if log:
            f = click.option("--log", is_flag=True, help="Log concentration axis in the plot.")(f)
        return click.option("--plot", "plot_path", callback=figure_path,
                            type=click.Path(dir_okay=False, writable=True), help=plot_help)(f)

    return deco


def plot_options(plot_help: str):
    """--plot FILE, --log, --pd and --band, shared by the commands that draw curves."""

    def deco(f):
        f = click.option("--band", multiple=True, metavar="LOW-HIGH[:LABEL]",
                         help="Shade a concentration range in the plot, e.g. 3-8:target "
                              "trough (ng/mL, repeatable).")(f)
        f = click.option("--pd", "show_pd", is_flag=True,
                         help="Add a panel with mTORC1 inhibition and mTORC2 fraction to the "
                              "plot.")(f)
        return plot_option(plot_help)(f)

    return deco


#: The animals a regimen can be given to with ``--species`` (default human).
ANIMALS = ("mouse", "dog", "marmoset")


def model_and_with(f):
    """--model and --with: the model of a drug's regimens and the co-medications."""
    f = click.option("--with", "with_", multiple=True, metavar="COMEDICATION",
                     help="Co-medication applied through the cited interaction layer, e.g. "
                          "ciclosporin, ketoconazole, grapefruit-juice, optionally with its "
                          "timing or setting: \"ciclosporin together\", \"ciclosporin 4h\", "
                          "and days taken: ketoconazole:day8-day14, rifampin:day3- (onset "
                          "and offset from its cited kinetics); adds to the regimen's own "
                          "'with ...' (repeatable; see `pkdose interactions`).")(f)
    return click.option("--model", "model_name", metavar="NAME|FILE",
                        help="Model name (see `pkdose models`) or model TOML file, for the "
                             "regimens of its drug; default: each drug's default model.")(f)


def model_options(f):
    """--model, --with, --species, --param and the subject's covariates: shared by simulate,
    compare and flag."""
    f = condition_options(f)
    f = click.option("--covariate", multiple=True, metavar="NAME=VALUE",
                     help="Other covariates, e.g. ast_iu_l=50, prednisolone_mg_day=20, "
                          "cyp3a5=*1/*3, race=black.")(f)
    f = click.option("--hct", type=float, help="Haematocrit (%); default 44.")(f)
    f = click.option("--age", type=float, help="Age (years); default 50.")(f)
    f = click.option("--sex", type=click.Choice(["male", "female"]), help="Default male.")(f)
    f = click.option("--height", type=float, help="Height (cm); default 180.")(f)
    f = click.option("--weight", type=float, help="Body weight (kg); default 70.")(f)
    f = click.option("--param", multiple=True, metavar="NAME=VALUE",
                     help="Override a typical parameter value, e.g. cl=7.5 (repeatable).")(f)
    f = click.option("--species", type=click.Choice(ANIMALS),
                     help="Animal regimens, on the species' default model (ip, sc and ppm "
                          "diets need one); default human.")(f)
    return model_and_with(f)


def population_options(n_default: int | None, n_help: str, population_help: str = (
        "older-adults, transplant-adults, or a CSV of covariates (one row per subject); "
        "default: the typical subject with the model's variability.")):
    """--n, --population and --seed: the virtual subjects of a command."""

    def deco(f):
        f = click.option("--seed", type=int, default=1, show_default=True,
                         help="Same seed, same subjects.")(f)
        f = click.option("--population", "population", metavar="NAME|FILE.csv",
                         help=population_help)(f)
        return click.option("--n", "n", type=click.IntRange(min=1), default=n_default,
                            show_default=n_default is not None, help=n_help)(f)

    return deco


def subjects_options(n_default: int, n_help: str):
    """--n, --population, --seed, --model and --with: the virtual subjects of population and
    design."""
    return lambda f: population_options(n_default, n_help)(model_and_with(f))


#: ``--precision full``: 17 significant digits read back to the same float64 (every bit).
FULL_PRECISION = "%.17g"


def parse_precision(text: str) -> str:
    """``full`` or a printf spec (``%.10g``, ``%.4e``, ``%.3f``) -> the float format of a CSV."""
    spec = FULL_PRECISION if str(text).strip().lower() == "full" else str(text).strip()
    m = re.fullmatch(r"%\.(\d{1,2})([gGeEf])", spec)
    if not m or int(m.group(1)) > 17 or (m.group(2) in "gG" and m.group(1) == "0"):
        raise PkdoseError(f"cannot read --precision {text!r}; write full (every digit of a "
                          "float64) or a spec such as %.10g, %.4e or %.3f (at most 17 digits)")
    return spec


def csv_option(what: str, precision: str, to_stdout: bool = False):
    """--csv FILE (``-``: stdout; the default when ``to_stdout``) and --precision, its
    float format (``precision`` the command's default)."""

    def deco(f):
        f = click.option(
            "--precision", "float_format", default=precision, show_default=True,
            metavar="full|%.Ng", callback=lambda ctx, param, value: parse_precision(value),
            help="Numbers in the CSV: full (%.17g, every bit of a float64 read back exactly) "
                 "or a printf spec such as %.10g.")(f)
        return click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
                            default=STDOUT if to_stdout else None,
                            help=f"Write {what} to CSV (-: stdout"
                                 f"{', the default' if to_stdout else ''}).")(f)

    return deco


def json_option(what: str):
    """--json FILE (``-``: stdout)."""
    return click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True),
                        help=f"Write {what} to JSON (-: stdout).")


def assay_option(help_text: str):
    """--assay METHOD: the laboratory method of levels (and targets) that name none."""
    return click.option("--assay", metavar="METHOD",
                        help=help_text + " LC-MS/MS (default), HPLC-UV, CMIA, MEIA, ECLIA, "
                             "ACMIA, QMS; immunoassay values are converted to the LC-MS/MS "
                             "scale pkdose predicts with a cited bias (docs/individual.md).")
