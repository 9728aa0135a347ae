"""pkdose translate: match exposure across species (animal regimen to human, and back)."""

from __future__ import annotations

import click

from pkdose.cli.lazy import pd
from pkdose.cli.options import ANIMALS, csv_option, plot_option
from pkdose.cli.output import Outputs, notice, pct, write_csv
from pkdose.errors import PkdoseError


def format_translation(first: pd.DataFrame, rows: pd.DataFrame, match: str,
                       reverse: bool, spread: pd.DataFrame | None = None) -> str:
    """The given regimen's exposure, the matches ranked, and what a match means."""
    from pkdose.results import NOT_AVAILABLE, number
    from pkdose.translation import CAVEATS, MATCH_METRICS

    column, label, unit = MATCH_METRICS[match]
    f = first.iloc[0]
    who = "human" if reverse else f"{f['species']} ({f['model']})"
    lines = [f"{f['regimen_given'] if 'regimen_given' in f else f['regimen']} in {who}, "
             f"{f['basis']}: Cavg {number(f['cavg_ng_ml'], '.3g', 'ng/mL')}, Cmax "
             f"{number(f['cmax_ng_ml'])}, Cmin {number(f['cmin_ng_ml'])}, mTORC1 "
             f"{pct(f['mtorc1_mean'])} %, "
             f"mTORC2 {f['mtorc2_verdict']}"]
    if spread is not None and len(spread):
        ends = spread[["metric_low", "metric_high"]]
        widest = spread["parameter"][(ends["metric_high"] - ends["metric_low"]).abs().idxmax()]
        lines.append(f"{label} over the {f['model']} model's parameter ranges (one at a time): "
                     f"{number(ends.min(axis=None))}-{number(ends.max(axis=None))} {unit}, "
                     f"widest for {widest}")
    lines.append("")
    if reverse:
        lines.append(f"Published lifespan regimens closest on {label} (ratio = human / "
                     "animal):")
        shown = rows[["name", "species", "sex", "regimen", "delta_median_pct", column,
                      "ratio", "predicted"]].copy()
        # A combination study's gain is the combination's: say so next to the regimen.
        shown["regimen"] = [r + (f" (+ {c.split()[0]})" if c else "") for r, c in
                            zip(shown["regimen"], rows["combined_with"], strict=True)]
        shown.columns = ["study", "species", "sex", "regimen", "Δ median %", label, "ratio",
                         "predicted"]
    else:
        lines.append(f"Human regimens on tablet doses matching {label} = "
                     f"{number(f[column], '.3g', unit)} (ratio = human / animal):")
        names = {"regimen": "regimen", "human": f"human {label}", "ratio": "ratio",
                 "cavg_ng_ml": "Cavg", "cmax_ng_ml": "Cmax", "cmin_ng_ml": "Cmin",
                 "mtorc1_mean": "mTORC1 %", "mtorc2_verdict": "mTORC2 verdict",
                 "in_fitted_range": "dose fitted"}
        names.pop(column, None)  # the matched metric is the human column already
        shown = rows.assign(mtorc1_mean=rows["mtorc1_mean"].map(pct))[list(names)]
        shown = shown.rename(columns=names)
        limit = rows["at_tablet_limit"].to_numpy(bool)
        shown["regimen"] = [r + (" *" if at else "") for r, at in zip(shown["regimen"], limit,
                                                                       strict=True)]
    if shown.empty:
        lines.append("  none: the reference library holds no lifespan study of this species")
    else:
        lines.append(shown.to_string(index=False, na_rep=NOT_AVAILABLE, float_format=number))
        if reverse and rows["delta_median_pct"].isna().any():
            lines.append(f"{NOT_AVAILABLE} in Δ median %: the study reports a longer life "
                         "without a median figure")
    if not reverse and rows["at_tablet_limit"].any():
        lines.append("* smallest or largest tablet dose (up to 8 tablets): no closer match on "
                     "this schedule")
    lines += ["", "Caveats:"] + [f"- {c}" for c in CAVEATS]
    return "\n".join(lines)


@click.command()
@click.argument("regimen")
@click.option("--species", type=click.Choice(ANIMALS), default="mouse", show_default=True,
              help="Species of the animal regimen (ignored with --from human).")
@click.option("--from", "from_", type=click.Choice(["animal", "human"]), default="animal",
              show_default=True, help="'human': find the published animal regimens "
                                      "closest to a human REGIMEN instead.")
@click.option("--to", "to", type=click.Choice(["human", *ANIMALS]),
              default=None, help="Target: human (default) or, with --from human, one "
                                 "species of the lifespan library (default: every "
                                 "species in it).")
@click.option("--match", type=click.Choice(["cavg", "auc168", "trough", "mtorc1"]),
              default="cavg", show_default=True, help="Exposure metric to match.")
@click.option("--weight", type=float, help="Animal body weight (kg); default the model's.")
@click.option("--sex", type=click.Choice(["male", "female"]), help="Animal sex.")
@click.option("--food", type=float, help="Animal food intake (g/day) for ppm diets; "
                                         "default from pkdose/data/food_intake.toml.")
@csv_option("the ranked rows", "%.6g")
@plot_option("Save the lifespan figure (every lifespan study with a dose against the --match "
             "metric, human ageing trials as bands, REGIMEN as a dashed line).", log=False)
def translate(regimen, species, from_, to, match, weight, sex, food, csv_path, float_format,
              plot_path):
    """Match exposure across species: the human regimens giving an animal regimen's exposure.

    REGIMEN is an animal regimen (ppm diet, mg/kg ip/sc/oral) for --species, or with
    --from human a human regimen to place among the published lifespan regimens. Human
    candidates are tablet doses (up to 8 tablets) daily, every 2 or 3 days, weekly and
    every 2 weeks; regimens that stop are compared while on treatment.

    \b
    Examples:
      pkdose translate "rapamycin 14 ppm diet" --species mouse --to human
      pkdose translate "rapamycin 2 mg/kg ip every 5 days" --match mtorc1
      pkdose translate "sirolimus 6 mg weekly" --from human --to mouse --plot fig.png
    """
    from pkdose import translation as tr

    notice()
    out = Outputs({"--csv": csv_path})
    subj = {key: val for key, val in (("weight_kg", weight), ("sex", sex),
                                      ("food_g_day", food)) if val is not None} or None
    spread = None
    if from_ == "human":
        if to == "human":
            raise PkdoseError("--from human needs an animal species in --to, e.g. --to mouse, "
                              "or no --to for every lifespan study")
        if subj:  # they were ignored: the human regimen is placed for the typical adult
            raise PkdoseError("--weight, --sex and --food describe the animal of an animal "
                              "regimen; with --from human give none of them")
        first, rows = tr.to_animal(regimen, to, match)
    else:
        if to not in (None, "human"):
            raise PkdoseError("an animal regimen translates --to human; to go from human to "
                              "an animal, give --from human")
        first, rows = tr.translate(regimen, species, match, subjects=subj)
        spread = tr.animal_range(regimen, species, match, subjects=subj)
    out.text(format_translation(first, rows, match, from_ == "human", spread) + "\n")
    if plot_path:
        from pkdose.plotting import plot_lifespan

        column, label, unit = tr.MATCH_METRICS[match]
        lib = rows if from_ == "human" else tr.lifespan_exposure(None, match)
        f = first.iloc[0]
        plot_lifespan(lib, tr.human_bands(match), plot_path, metric=column,
                      metric_label=f"predicted {label} ({unit})",
                      mark=(str(f.get("regimen_given", f["regimen"])), float(f[column])))
        click.echo(f"wrote {plot_path}", err=True)
    if csv_path:
        write_csv(rows, csv_path, float_format)
