"""pkdose simulate: the concentration-time curve of one regimen."""

from __future__ import annotations

import click

from pkdose.cli.options import (
    csv_option,
    model_options,
    parse_bands,
    parse_duration,
    parse_params,
    plot_options,
    subject_from_options,
)
from pkdose.cli.output import notice, write_csv


@click.command()
@click.argument("regimen")
@click.option("--until", "until", metavar="DURATION", help="Simulate until, e.g. 12w, 84d, 336h.")
@click.option("--step", default="1h", show_default=True, metavar="DURATION",
              help="Output time step, e.g. 1h, 15min.")
@csv_option("the curve", "%.6g", to_stdout=True)
@click.option("--food", type=float, help="Animal food intake (g/day) for ppm diets.")
@plot_options("Save a figure (PNG/SVG/PDF).")
@model_options
def simulate(regimen, until, step, csv_path, float_format, species, food, plot_path, log,
             show_pd, model_name, param, weight, height, sex, age, hct, covariate, band,
             with_):
    """Concentration-time curve of one regimen (time_h, conc_ng_ml [, plasma_ng_ml]).

    REGIMEN is regimen text, a regimen TOML file or a one-subject event-table CSV.

    \b
    Example:
      pkdose simulate "sirolimus 6 mg loading then 2 mg daily" --until 4w --plot s.png
      pkdose simulate "rapamycin 14 ppm diet" --species mouse --until 1w
    """
    from pkdose.simulation import as_regimen
    from pkdose.simulation import simulate as run

    notice()
    reg = as_regimen(regimen)
    subj = subject_from_options(weight, height, sex, age, hct, covariate)
    if food is not None:
        subj["food_g_day"] = food
    df = run(reg, model_name, subj, until_h=parse_duration(until, "--until") if until else None,
             step_h=parse_duration(step, "--step"), params=parse_params(param), with_=with_,
             species=species)
    write_csv(df, csv_path, float_format)
    if plot_path:
        from pkdose.pd import curve_pd
        from pkdose.plotting import plot_curves
        from pkdose.simulation import resolve_model

        # The species of the model that ran (--model mouse_diet names no --species).
        pdc = [curve_pd(reg.drug, df, resolve_model(reg, model_name, species=species).species)
               ] if show_pd else None
        plot_curves([(str(reg), df)], plot_path, log=log, bands=parse_bands(band), pd_curves=pdc)
        click.echo(f"wrote {plot_path}", err=True)
