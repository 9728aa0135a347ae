"""pkdose individual: one person's exposure from measured blood levels, dose options."""

from __future__ import annotations

import math

import click

from pkdose.cli.lazy import pd
from pkdose.cli.options import assay_option, csv_option, model_and_with, parse_when, plot_option
from pkdose.cli.output import Outputs, notice, write_csv
from pkdose.errors import PkdoseError


@click.command()
@click.option("--regimen", "regimen", required=True,
              help="The regimen the person follows, e.g. \"sirolimus 6 mg weekly\".")
@click.option("--levels", "levels_path", required=True, type=click.Path(dir_okay=False),
              help="CSV of measured levels: time (2026-03-02 08:30 or hours since the first "
                   "dose), conc_ng_ml (<0.5 below the limit of quantification), optional "
                   "dose_mg rows (doses actually taken), lloq_ng_ml and assay columns.")
@click.option("--first-dose", "first_dose", metavar="TIME",
              help="Clock time of the first dose, e.g. \"2026-03-02 08:00\" (needed with "
                   "clock times unless the CSV has dose rows).")
@click.option("--covariates", metavar="NAME=VALUE,...",
              help="e.g. age=67,weight=82,hct=41 (also height, sex, ast, prednisolone).")
@model_and_with
@click.option("--target", metavar="TARGET",
              help="Recommend a dose and interval on real tablets: \"trough 5-10\", "
                   "\"AUC168 400\" (met within 80-125 %) or \"mTORC2 spared\".")
@click.option("--max-tablets", type=click.IntRange(min=1, max=12), default=4, show_default=True,
              help="Most tablets per intake for --target.")
@click.option("--missed", metavar="DATE[+DELAY]",
              help="A missed dose (e.g. 2026-03-09): compare skipping it with taking it DELAY "
                   "late (default half the interval, at most 24 h).")
@click.option("--late", metavar="DATE+DELAY",
              help="A dose taken late (e.g. 2026-03-09+12h): keep the schedule or shift it.")
@assay_option("Method of the levels without an assay column, and of --target.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the posterior sampling.")
@csv_option("the fitted curve with its 90 % band", "%.6g")
@plot_option("Figure of the fit: measured levels, MAP curve, band, typical curve.")
def individual(regimen, levels_path, first_dose, covariates, model_name, with_, target,
               max_tablets, missed, late, assay, seed, csv_path, float_format, plot_path, log):
    """One person's exposure from measured blood levels (MAP-Bayesian estimation).

    The model's between-subject variability is the prior and its residual error the
    likelihood; prints the individual parameters against the typical ones, the fit to
    the levels, the predicted exposure and mTOR engagement with 90 % intervals, and
    optionally a dose recommendation (--target) or missed/late-dose options. See
    docs/individual.md.

    \b
    Example:
      pkdose individual --regimen "sirolimus 6 mg weekly" --levels levels.csv \\
          --first-dose "2026-03-02 08:00" --covariates age=67,weight=82,hct=41 \\
          --target "trough 5-10"
    """
    from pkdose import individual as ind
    from pkdose.model import parse_covariates
    from pkdose.simulation import as_regimen

    notice()
    out = Outputs({"--csv": csv_path})
    if missed and late:
        raise PkdoseError("give --missed or --late, not both")
    reg = as_regimen(regimen)
    tgt = ind.dose_target(target, reg.drug, assay) if target else None
    when = parse_when(missed or late) if (missed or late) else None
    if late and when[1] is None:
        raise PkdoseError(f"--late needs the delay, e.g. {late}+12h")
    fit = ind.estimate(reg, levels_path, model_name, parse_covariates(covariates),
                       with_=with_, first_dose=first_dose, seed=seed, assay=assay)
    levels = ind.fitted_levels(fit)
    # All is computed before anything is printed: a dose --missed cannot find, or a delay
    # past the next dose, is one error line, not the end of half a report.
    table, options = (ind.dose_options(fit, when[0], when[1], late=bool(late))
                      if when is not None else (None, None))
    rec = ind.recommend(fit, tgt, max_tablets) if tgt is not None else None
    out.text(format_individual(fit, ind.parameters(fit), levels, ind.exposure(fit),
                               ind.verdict(fit)))
    if rec is not None:
        out.text(format_recommendation(rec))
    if table is not None:
        out.text(format_dose_options(table))
    cur = ind.curve(fit)
    if csv_path:
        write_csv(cur, csv_path, float_format)
    if plot_path:
        from pkdose.plotting import plot_individual

        bands = [(tgt.text, tgt.low, tgt.high)] if tgt is not None and tgt.column in (
            "ctrough_ng_ml", "cmin_ng_ml") else []
        plot_individual(cur, levels, plot_path, log=log, options=options,
                        bands=bands, title=f"{reg}: fit to {fit.levels.time_h.size} measured "
                                           f"levels [{fit.model.name}]")
        click.echo(f"wrote {plot_path}", err=True)


def _g(x: float, spec: str = ".3g", unit: str = "") -> str:
    """A number of the text report; n/a where it is not defined."""
    from pkdose.results import number

    return number(x, spec, unit)


def _rows(cells: list[list[str]], indent: str = "  ") -> list[str]:
    from pkdose.results import text_table

    return [text_table(cells[0], cells[1:], indent=indent, rule=False).rstrip("\n")]


_IND_METRICS = [("ctrough_ng_ml", "Ctrough ng/mL", _g), ("cmax_ng_ml", "Cmax ng/mL", _g),
                ("cavg_ng_ml", "Cavg ng/mL", _g),
                ("auc168_ng_h_ml", "AUC168 ng*h/mL", lambda x: _g(x, ".0f")),
                ("t_above_4_h_per_week", "h>4 ng/mL per week", lambda x: _g(x, ".0f")),
                ("mtorc1_mean", "mTORC1 inhibition", lambda x: _g(100 * x, ".0f", "%")),
                ("mtorc2_mean", "mTORC2 assembled", lambda x: _g(100 * x, ".0f", "%"))]


def format_individual(fit, params: pd.DataFrame, levels: pd.DataFrame, exp: pd.DataFrame,
                      verdict) -> str:
    """Plain-text report of an individual fit (see ``pkdose individual``)."""
    from pkdose.engine import basis_for
    from pkdose.individual import FIT_ADVICE

    lev = fit.levels
    start = f", first dose {lev.clock([0.0])[0]}" if lev.origin is not None else ""
    out = [f"{fit.regimen}: model {fit.model.name}; {lev.time_h.size} measured levels{start}"]
    if fit.diagnostics.problems:  # loud lines first: the fit does not hold
        out += (["WARNING: the fit does not hold; the estimates below are not reliable:"]
                + [f"  - {p}" for p in fit.diagnostics.problems]
                + [f"  {FIT_ADVICE[0].upper()}{FIT_ADVICE[1:]}."])
    holds = "the fit holds" if fit.diagnostics.holds else "the fit does NOT hold"
    out += [f"posterior: MAP by L-BFGS-B, sampled by SIR ({len(fit.samples_z)} draws kept); "
            f"{holds}:"]
    out += [f"  {line}" for line in fit.diagnostics.text().splitlines()]
    out += ["", "Individual parameters vs typical for these covariates (90 % interval)"]
    cells = [["parameter", "unit", "typical", "individual", "90 % interval", "change",
              "information"]]
    for _, r in params.iterrows():
        info = "" if math.isnan(r["information_pct"]) else f"{r['information_pct']:.0f} %"
        cells.append([r["parameter"], r["unit"], _g(r["typical"]), _g(r["individual"]),
                      f"{_g(r['p5'])}-{_g(r['p95'])}", f"{r['change_pct']:+.0f} %", info])
    out += _rows(cells)
    if len(levels):
        out += ["", "Measured vs predicted whole-blood levels (ng/mL, LC-MS/MS scale; band of "
                "the prediction)"]
        converted = bool((levels["reported_ng_ml"] != levels["measured_ng_ml"]).any())
        cells = [["time", "measured"] + ["as reported"] * converted
                 + ["typical", "individual", "90 % band"]]
        for _, r in levels.iterrows():
            below = "<" if r["censored"] else ""
            cells.append([r["time"] or f"{r['time_h']:g} h", below + _g(r["measured_ng_ml"])]
                         + [f"{below}{_g(r['reported_ng_ml'])} {r['assay']}"] * converted
                         + [_g(r["typical_ng_ml"]), _g(r["individual_ng_ml"]),
                            f"{_g(r['p5_ng_ml'])}-{_g(r['p95_ng_ml'])}"])
        out += _rows(cells)
        out += [f"  {line}" for line in assay_notes(fit.regimen.drug, levels)]
    # What exposure() summarises: a steady-state cycle, the first week or the whole course.
    basis = basis_for(fit.regimen).label
    out += ["", f"Predicted exposure on {fit.regimen} ({basis}; a new occasion)"]
    by = exp.set_index("metric")
    cells = [["", "individual", "90 % interval", "typical"]]
    for key, label, fmt in _IND_METRICS:
        r = by.loc[key]
        cells.append([label, fmt(r["individual"]), f"{fmt(r['p5'])}-{fmt(r['p95'])}",
                      fmt(r["typical"])])
    out += _rows(cells)
    probs = ", ".join(f"{lab} {100 * by.loc[f'mtorc2 {lab}', 'probability']:.0f} %"
                      for lab in ("spared", "equivocal", "inhibited"))
    out += [f"  mTORC2 verdict: {verdict.label} (posterior, as pkdose flag judges: {probs})",
            f"  {verdict.text()}", ""]
    return "\n".join(out) + "\n"


def format_recommendation(rec: pd.DataFrame) -> str:
    """The recommended regimen and the other shortlisted candidates."""
    from pkdose.engine import quantity

    best = rec.iloc[0]
    mtor = best["metric"] == "mtorc1_mean"
    q = quantity(best["metric"])
    name = "mTORC1 inhibition" if mtor else q.name

    def val(x):
        if mtor:
            return f"{100 * x:.0f} %"
        return f"{x:.0f} {q.unit}" if x >= 1000 else f"{_g(x)} {q.unit}"

    out = [f"Target {best['target']!r} (pharmacology, not a prescription)",
           f"  best: {best['regimen']}: P(target) {100 * best['probability']:.0f} %, {name} "
           f"{val(best['individual'])} (90 %: {val(best['p5'])} to {val(best['p95'])}), "
           f"mTORC2 {best['mtorc2_verdict']}"]
    cells = [["candidate", "P(target)", name, "90 % interval"] + ["mTORC1"] * (not mtor)
             + ["mTORC2"]]
    for _, r in rec.iloc[1:].iterrows():
        cells.append([r["regimen"], f"{100 * r['probability']:.0f} %", val(r["individual"]),
                      f"{val(r['p5'])} to {val(r['p95'])}"]
                     + [f"{100 * r['mtorc1_mean']:.0f} %"] * (not mtor) + [r["mtorc2_verdict"]])
    if len(cells) > 1:
        out += ["  others:"] + _rows(cells, "    ")
    return "\n".join(out) + "\n\n"


def format_dose_options(table: pd.DataFrame) -> str:
    """Predicted exposure for each way of handling a missed or late dose."""
    r0 = table.iloc[0]
    out = [f"Dose scheduled {r0['scheduled']}: predicted exposure over the "
           f"{r0['window']} (MAP, 90 % interval; pharmacology, not advice)"]
    cells = [["option", "lowest ng/mL", "highest ng/mL", "AUC vs on time"]]
    for _, r in table.iterrows():
        cells.append([r["option"], *(f"{_g(r[c])} ({_g(r[c + '_p5'])}-{_g(r[c + '_p95'])})"
                                     for c in ("lowest_ng_ml", "highest_ng_ml")),
                      f"{_g(r['auc_pct_of_on_time'], '.0f', '%')} "
                      f"({_g(r['auc_pct_p5'], '.0f')}-{_g(r['auc_pct_p95'], '.0f')})"])
    return "\n".join(out + _rows(cells)) + "\n\n"


def assay_notes(drug: str, levels: pd.DataFrame) -> list[str]:
    """What was assumed or converted about the levels' methods, and the censored count."""
    from pkdose.assay import NO_METHOD, assay_bias

    out = []
    if (levels["assay"] == "").any():
        out.append(f"{(levels['assay'] == '').sum()} level(s): {NO_METHOD}")
    for method in sorted(set(levels["assay"]) - {""}):
        out.append(assay_bias(drug, method).describe())
    n_below = int(levels["censored"].sum())
    if n_below:
        out.append(f"{n_below} level(s) below the limit of quantification (<): fitted by the "
                   "probability of being below it (M3), not as values")
    return out
