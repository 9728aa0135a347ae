"""pkdose design: trial design on virtual populations (find-dose, arms, window)."""

from __future__ import annotations

import math
import re

import click

from pkdose.cli.lazy import pd
from pkdose.cli.options import csv_option, plot_option, subjects_options
from pkdose.cli.output import Outputs, notice, pct, write_csv
from pkdose.cli.progress import ProgressBar, dose_progress
from pkdose.errors import PkdoseError


@click.group()
def design():
    """Trial design on virtual populations: dose for a target, arm sizes, mTOR window.

    \b
    Examples:
      pkdose design find-dose --drug sirolimus --schedule weekly --target "median Cavg=2"
      pkdose design arms "sirolimus 5 mg weekly" "sirolimus 10 mg weekly" --metric AUC168
      pkdose design window --drug sirolimus --mtorc1 0.5 --spared 0.8 --plot window.png
    """


@design.command("find-dose")
@click.option("--drug", required=True, help="sirolimus (rapamycin) or everolimus.")
@click.option("--schedule", required=True,
              help="Dosing schedule, e.g. weekly, daily, 'every 3 days', 'Mon/Thu'.")
@click.option("--target", required=True, metavar="TARGET",
              help="'median Cavg=2', 'p10 trough=3' (percentile = value), or a condition "
                   "such as 'trough<3' with --fraction (also 'P(trough<3)=0.9').")
@click.option("--fraction", type=float,
              help="Fraction of subjects that must meet a condition target, e.g. 0.9.")
@click.option("--max-tablets", type=click.IntRange(min=1, max=10), default=5,
              show_default=True, help="Most tablets per intake: bounds the dose searched.")
@subjects_options(1000, "Virtual subjects (the same ones at every dose tried).")
def design_find_dose(drug, schedule, target, fraction, max_tablets, n, population, seed,
                     model_name, with_):
    """The dose that meets a population target, rounded to marketed tablets.

    Brent's method on log dose over the tablet range, the same subjects at every dose
    (common random numbers). Prints the continuous dose, the tablet doses on either side
    with the statistic each attains, and the number of evaluations.

    \b
    Example:
      pkdose design find-dose --drug sirolimus --schedule weekly --target "median Cavg=2" \\
          --population older-adults --n 1000
      pkdose design find-dose --drug sirolimus --schedule daily --target "trough<8" \\
          --fraction 0.9 --model golubovic2019
    """
    from pkdose.design import find_dose

    notice()
    df = find_dose(drug, schedule, target, fraction, n=n, population=population, seed=seed,
                   model=model_name, with_=with_, max_tablets=max_tablets, progress=dose_progress)
    click.echo(format_find_dose(df), nl=False)


def format_find_dose(df: pd.DataFrame) -> str:
    """Plain-text answer of find-dose: root, bracketing tablet doses, evaluations."""
    from pkdose.results import number

    r = df.set_index("row")
    root = r.loc["root"]
    stat = root["statistic"]
    cond = root["condition"]
    want = (f"{root['fraction_target']:.0%} of subjects with {cond}" if cond
            # a value stated for an immunoassay, with the LC-MS/MS value searched for
            else root["target"] if root["target"].endswith("LC-MS/MS)")
            else f"{stat} = {root['target_value']:g}")
    out = [f"target: {want} ({root['n']} subjects, seed {root['seed']}, model "
           f"{root['model']})",
           f"continuous dose: {root['dose_mg']:.4g} mg  "
           f"({stat} {number(root['attained'], '.4g')}); "
           f"95% Monte Carlo interval {root['dose_low_mg']:.3g}-{root['dose_high_mg']:.3g} mg "
           f"(bootstrap of the {root['n']} subjects)"]
    for label in ("tablet below", "tablet above"):
        row = r.loc[label]
        extra = (f", {row['fraction_meeting']:.1%} meet {cond}"
                 f" ({'meets' if row['meets'] else 'misses'} the target)") if cond else ""
        out.append(f"{label}: {row['regimen']}  {stat} {number(row['attained'], '.4g')}{extra}")
    sims = int(root["simulations"])
    out.append(f"{root['evaluations']} evaluations by the root-finder (Brent on log dose), "
               f"{sims} population simulation{'s' if sims != 1 else ''}, same subjects at "
               "every dose")
    return "\n".join(out) + "\n"


@design.command("arms")
@click.argument("regimens", nargs=-1, required=True)
@click.option("--metric", default="AUC168", show_default=True,
              help="Exposure compared: AUC168, Cavg, Cmax, trough, mtorc1 ...")
@click.option("--power", type=float, default=0.8, show_default=True)
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="Two-sided significance level.")
@click.option("--trials", "n_trials", type=click.IntRange(min=1), default=2000,
              show_default=True, help="Simulated trials for the empirical power.")
@csv_option("the comparison table", "%.6g")
@subjects_options(1000, "Virtual subjects per arm (different subjects in every arm).")
def design_arms(regimens, metric, power, alpha, n_trials, csv_path, float_format, n,
                population, seed, model_name, with_):
    """Overlap of exposure between arms and subjects per arm to tell them apart.

    Every arm gets its own virtual subjects (a parallel-group trial). For each pair:
    P(a subject of the higher arm has the higher exposure), from the samples; subjects per
    arm for a two-sided t-test on log exposure at --power and --alpha; and the power of
    that many subjects checked by resampling the simulated arms.

    \b
    Example:
      pkdose design arms "sirolimus 5 mg weekly" "sirolimus 10 mg weekly" \\
          --metric AUC168 --population older-adults --n 1000
    """
    from pkdose.design import compare_arms

    notice()
    out = Outputs({"--csv": csv_path})
    df = compare_arms(regimens, metric, n, population, seed, model_name, with_, power, alpha,
                      n_trials, progress=ProgressBar("arms", "arms"))
    out.text(format_arms(df))
    if csv_path:
        write_csv(df, csv_path, float_format)


def format_arms(df: pd.DataFrame) -> str:
    """Plain-text pairwise comparison of arms; n/a (with why) where a number is undefined."""
    from pkdose.diagnostics import threshold
    from pkdose.results import number

    z = threshold("arms", "separable_z").value  # the 95 % Monte Carlo interval
    out = []
    for _, r in df.iterrows():
        if r["same_regimen"]:
            n_arm = "not separable: both arms are the same regimen (no real difference)"
        elif not r["separable"]:
            lo, hi = (r["delta_log"] + s * z * r["se_delta_log"] for s in (-1, 1))
            n_arm = (f"not separable: no real difference (the difference of mean logs, "
                     f"{r['delta_log']:.3f}, is within the Monte Carlo error of the simulated "
                     f"arms: 95 % interval {lo:.3f} to {hi:.3f}; more subjects, --n, resolve "
                     "a smaller one)")
        else:
            n_arm = (f"{r['n_per_arm']:.0f} (Monte Carlo 95 % interval "
                     f"{r['n_per_arm_low']:.0f}-{r['n_per_arm_high']:.0f})")
        sim = ("not simulated" if not math.isfinite(r["power_simulated"])
               else f"{r['power_simulated']:.1%}")
        power_t = (f"{r['power_t']:.1%} (noncentral t)" if math.isfinite(r["power_t"])
                   else "n/a (the noncentral t distribution did not evaluate at this "
                        "separation)")
        out += [f"{r['higher_arm']}  vs  {r['lower_arm']}  ({r['metric']}, {r['n']} subjects "
                f"per arm, model {r['model']})",
                f"  median {number(r['median_higher'], '.4g')} vs "
                f"{number(r['median_lower'], '.4g')}; geometric mean ratio "
                f"{number(r['gmr'], '.3f')}; SD of log {number(r['sd_log'], '.3f')}",
                f"  P(higher-arm subject has the higher exposure) = "
                f"{number(r['p_higher'], '.3f')} (log-normal theory "
                f"{number(r['p_higher_normal'], '.3f')})",
                f"  subjects per arm for {r['power']:.0%} power at two-sided alpha "
                f"{r['alpha']:g} (t-test on log {r['metric']}): {n_arm}",
                *([f"  power at that n: {power_t}, {sim} in {r['n_trials']} resampled trials"]
                  if r["separable"] else []), ""]
    out.append("arms are independent virtual subjects (seed per arm); no residual or assay "
               "error, so real trials need more subjects")
    return "\n".join(out) + "\n"


@design.command("window")
@click.option("--drug", required=True, help="sirolimus (rapamycin) or everolimus.")
@click.option("--mtorc1", type=float, default=0.5, show_default=True,
              help="mTORC1 engagement wanted: median time-averaged inhibition (0-1).")
@click.option("--mtorc1-fraction", type=float,
              help="Instead of the median: at least this fraction of subjects reach --mtorc1.")
@click.option("--spared", type=float, default=0.8, show_default=True,
              help="Fraction of subjects that must stay mTORC2-spared (0-1).")
@click.option("--doses", metavar="MG,MG,...",
              help="Doses to try (mg); default: tablet doses ~30 % apart up to --max-mg.")
@click.option("--max-mg", type=float, default=10.0, show_default=True,
              help="Largest dose of the default grid.")
@click.option("--intervals", default="1-14", show_default=True, metavar="DAYS",
              help="Dosing intervals in days: a range 1-14 or a list 1,2,7,14.")
@csv_option("the table of all schedules", "%.6g")
@plot_option("Trade-off plot: mTORC1 engagement vs fraction mTORC2-spared.", log=False)
@subjects_options(50, "Virtual subjects (the same ones for every schedule).")
def design_window(drug, mtorc1, mtorc1_fraction, spared, doses, max_mg, intervals, csv_path,
                  float_format, plot_path, n, population, seed, model_name, with_):
    """Schedules that engage mTORC1 while keeping mTORC2 spared (dose x interval).

    Simulates every dose of the grid at every interval on the same virtual subjects and
    prints, per schedule, the median mTORC1 inhibition and the fraction of subjects
    mTORC2-spared, the feasible schedules and the Pareto front. Progress on stderr.

    \b
    Example:
      pkdose design window --drug sirolimus --mtorc1 0.5 --spared 0.8 \\
          --population older-adults --plot window.png
    """
    from pkdose.design import therapeutic_window

    notice()
    out = Outputs({"--csv": csv_path})
    dose_list = _numbers(doses, "--doses") if doses else None
    df = therapeutic_window(drug, mtorc1, spared, dose_list, _intervals(intervals), n,
                            population, seed, model_name, with_, mtorc1_fraction,
                            max_mg=max_mg, progress=ProgressBar("window", "schedules"))
    out.text(format_window(df))
    if csv_path:
        write_csv(df, csv_path, float_format)
    if plot_path:
        from pkdose.plotting import plot_window

        plot_window(df, plot_path)
        click.echo(f"wrote {plot_path}", err=True)


def _numbers(text: str, what: str) -> list[float]:
    try:
        out = [float(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise PkdoseError(f"cannot read {what} {text!r}; write numbers separated by commas, "
                          "e.g. 1,2,5") from None
    if not out:
        raise PkdoseError(f"{what} is empty; write e.g. 1,2,5")
    return out


def _intervals(text: str) -> list[float]:
    """'1-14' or '1,2,7,14' (days)."""
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(text))
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if not 1 <= lo <= hi <= 28:  # the library's longest interval, before any list is made
            raise PkdoseError(f"cannot read --intervals {text!r}; give days within 1-28, "
                              "e.g. 1-14 or 1,7,14")
        return [float(d) for d in range(lo, hi + 1)]
    return _numbers(text, "--intervals")


def format_window(df: pd.DataFrame) -> str:
    """Grid of 'mTORC1 %/spared %' per dose and interval, then feasible set and front."""
    from pkdose.results import number, text_table

    a = df.attrs
    cells = {(r.dose_mg, r.interval_days): f"{pct(r.mtorc1_median)}/{pct(r.spared_fraction)}"
             + ("*" if r.feasible else " ") for r in df.itertuples()}
    doses = sorted(df["dose_mg"].unique())
    days = sorted(df["interval_days"].unique())
    head = ["dose \\ every"] + [f"{d:g}d" for d in days]
    rows = [[f"{d:g} mg"] + [cells[(d, k)] for k in days] for d in doses]
    rule = (f"median mTORC1 inhibition >= {a['mtorc1']:.0%}" if a.get("mtorc1_fraction") is None
            else f"{a['mtorc1_fraction']:.0%} of subjects with mTORC1 inhibition >= "
                 f"{a['mtorc1']:.0%}")
    out = [f"{df['n'].iloc[0]} subjects ({a['population']}, seed {df['seed'].iloc[0]}, model "
           f"{df['model'].iloc[0]}); cell = median mTORC1 inhibition % / subjects mTORC2-spared"
           " %; * = feasible"]
    out.append(text_table(head, rows, left=0, rule=False).rstrip("\n"))
    feas = df[df["feasible"]].sort_values("weekly_dose_mg")
    out.append(f"\nfeasible ({rule} and >= {a['spared']:.0%} mTORC2-spared): "
               + (f"{len(feas)} schedule{'s' if len(feas) > 1 else ''}" if len(feas)
                  else "none"))
    for r in feas.itertuples():
        out.append(f"  {r.regimen}: mTORC1 {pct(r.mtorc1_median)} %, spared "
                   f"{pct(r.spared_fraction)} %, median trough "
                   f"{number(r.ctrough_median_ng_ml, '.2g', 'ng/mL')}")
    front = df[df["pareto"]].sort_values("mtorc1_median")
    out.append("Pareto front (no schedule engages mTORC1 more and spares mTORC2 as often): "
               + "; ".join(f"{r.regimen} ({pct(r.mtorc1_median)}/{pct(r.spared_fraction)})"
                           for r in front.itertuples()))
    out.append("mTORC2 sparing judged per subject at a 96 h turnover half-life (a research "
               "hypothesis; docs/mtorc2.md)")
    return "\n".join(out) + "\n"
