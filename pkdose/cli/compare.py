"""pkdose compare: exposure metrics of several regimens side by side, and their place among
the reference regimens (--against)."""

from __future__ import annotations

import click

from pkdose.cli.lazy import pd
from pkdose.cli.options import (
    csv_option,
    json_option,
    model_options,
    parse_bands,
    parse_duration,
    parse_params,
    parse_window,
    plot_options,
    population_options,
    subject_from_options,
)
from pkdose.cli.output import Outputs, notice, write, write_csv


@click.command()
@click.argument("regimens", nargs=-1, required=True)
@csv_option("all metrics (one row per regimen)", "%.10g")
@json_option("all metrics")
@plot_options("Overlay the curves in one figure (PNG/SVG/PDF).")
@click.option("--until", metavar="DURATION", help="Plot horizon, default 4 weeks.")
@click.option("--window", metavar="START-END",
              help="Summarise this window after the first dose instead (e.g. 0-1w, 5w-6w).")
@click.option("--against", metavar="GROUPS",
              help="Place the regimens among reference regimens: transplant, oncology, tsc, "
                   "lam, ageing, all (comma-separated).")
@population_options(None, "Also show each metric's 5-95 % interval over this many virtual "
                    "subjects (default 500 with --population) and the share per verdict.",
                    "Population of the intervals: older-adults, transplant-adults or a CSV "
                    "of covariates; with only --n, the typical subject with the model's "
                    "variability.")
@model_options
def compare(regimens, csv_path, float_format, json_path, plot_path, log, show_pd, until,
            window, against, species, n, population, seed, model_name, param, weight, height,
            sex, age, hct, covariate, band, with_):
    """Exposure metrics of several regimens side by side, one row per regimen.

    Each REGIMEN is regimen text, a regimen TOML file, or an event-table CSV (one regimen
    per ID). Regimens that repeat indefinitely are summarised at steady state over one cycle;
    regimens that stop, over their first week.
    Under each regimen, its range over every shipped model valid for it (docs/cli.md).

    \b
    Example:
      pkdose compare "rapamycin 1 mg daily" "rapamycin 6 mg weekly" "everolimus 5 mg weekly"
    """
    from pkdose.comparison import POPULATION_N
    from pkdose.comparison import compare as run
    from pkdose.simulation import load_regimens, params_of_drug

    notice()
    out = Outputs({"--csv": csv_path, "--json": json_path})
    regs = [reg for r in regimens for reg in load_regimens(r)]
    bands = parse_bands(band)
    subj = subject_from_options(weight, height, sex, age, hct, covariate)
    params = parse_params(param)
    # The table shows the headline metrics; files get every metric (Rac and T90ss cost
    # most of the time, so they are computed only when written).
    from pkdose.results import TEXT_METRICS

    metrics = None if (csv_path or json_path) else TEXT_METRICS
    table = run(regs, model_name, subj, params, parse_window(window) if window else None,
                with_=with_, species=species, metrics=metrics, population=population, n=n,
                seed=seed)
    out.text(table.to_text())
    placed = None
    if against:
        from pkdose.comparison import parse_against, place

        placed = place(table, parse_against(against), subj)
        out.text(placed.to_text())
        bands = list(dict.fromkeys(bands + placed.bands()))
    if csv_path or json_path:
        rows = table.to_frame()
        extra = {}
        if placed is not None:
            rows = pd.concat([rows.assign(role="regimen"),
                              placed.references.to_frame().assign(role="reference")],
                             ignore_index=True)
            extra = {k: v for k, v in placed.to_dict().items() if k != "references"}
        if csv_path:
            write_csv(rows, csv_path, float_format)
        if json_path:
            from pkdose.results import ExposureTable

            write(ExposureTable(rows).to_json(**extra), json_path)
    if plot_path:
        own = [params_of_drug(model_name, params, reg) for reg in regs]
        _plot(regs, table, placed, plot_path, log, show_pd, until, subj, own, with_, bands,
              (population, n or POPULATION_N, seed) if population is not None or n is not None
              else None)


def _plot(regs, table, placed, plot_path, log, show_pd, until, subj, params, with_, bands,
          varied):
    """The regimens' curves overlaid, references thin behind them; with ``varied``
    (population, n, seed) each curve's 5-95 % band over the population shaded. ``params``:
    each regimen's typical-value overrides."""
    from pkdose.pd import curve_pd
    from pkdose.plotting import plot_curves
    from pkdose.simulation import simulate as sim

    horizon = parse_duration(until, "--until") if until else 4 * 168.0
    # Fine enough to draw the ~0.7 h everolimus peaks; bounded for long horizons.
    step = min(0.1, horizon / 4000.0)
    curves = []
    for reg, model, own in zip(regs, table.frame["model"], params, strict=True):
        curve = sim(reg, model, subj, until_h=horizon, step_h=step, params=own, with_=with_)
        if varied is not None:
            from pkdose.population import curve_band

            curve = curve.assign(**curve_band(reg, *varied, model, with_, params=own,
                                              times_h=curve["time_h"]))
        curves.append((f"{reg}  [{model}]", curve))
    pdc = [curve_pd(reg.drug, c, sp) for reg, (_, c), sp
           in zip(regs, curves, table.frame["species"], strict=True)] if show_pd else None
    thin = []
    if placed is not None:
        from pkdose.references import get

        # No reference rows (an animal regimen is not placed) leave a frame without columns.
        for name in placed.references.frame.get("reference", ()):
            ref = get(name)
            thin.append(sim(ref.regimen.on_treatment(), None, subj, until_h=horizon,
                            step_h=step, with_=ref.comedication))
    plot_curves(curves, plot_path, log=log, bands=bands, pd_curves=pdc, thin=thin)
    click.echo(f"wrote {plot_path}", err=True)
