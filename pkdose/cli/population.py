"""pkdose population: the spread of exposure and mTOR engagement over virtual subjects."""

from __future__ import annotations

import click

from pkdose.cli.lazy import np, pd
from pkdose.cli.options import csv_option, plot_option, subjects_options
from pkdose.cli.output import Outputs, notice, write_csv
from pkdose.cli.progress import ProgressBar
from pkdose.errors import PkdoseError


@click.command()
@click.argument("regimens", nargs=-1, required=True)
@subjects_options(2000, "Virtual subjects per arm (every arm uses the same subjects).")
@click.option("--target", "targets", multiple=True, metavar="METRIC<VALUE",
              help="Probability of target attainment, e.g. \"trough<3\", \"AUC168>300\", "
                   "\"mtorc2>=0.8\" (repeatable).")
@csv_option("the per-subject metrics (all arms)", "%.8g")
@plot_option("Fan chart of the first 4 weeks: median, 50 % and 90 % bands per arm.")
@click.option("--observe", "observe", metavar="TIMES",
              help="Also simulate observed concentrations (one IOV occasion per dose, the "
                   "model's residual error) at these hours, e.g. \"23.5,167.5\".")
@click.option("--lloq", "lloq_ng_ml", type=float, default=0.0, show_default=True,
              metavar="NG_ML",
              help="Limit of quantification of the simulated observations: values below "
                   "it (and any at or below 0) are reported as BLQ.")
@click.option("--observe-csv", "observe_csv", type=click.Path(dir_okay=False, writable=True),
              help="Write the simulated observations (all arms) to CSV (-: stdout).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local processes (default: one per CPU for 1024+ subjects; 1: in this "
                   "process). Results are identical for any number.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on a Dask cluster, e.g. tcp://host:8786 (pip install 'pkdose[dask]').")
def population(regimens, n, population, seed, targets, csv_path, plot_path, log, model_name,
               with_, observe, lloq_ng_ml, observe_csv, float_format, workers, scheduler):
    """Spread of exposure and mTOR engagement over virtual subjects, per regimen (arm).

    Prints per arm the 5/25/50/75th/95th percentiles of the exposure metrics and of mTORC1
    inhibition, the fraction of subjects per mTORC2 verdict (as pkdose flag judges it, and
    at the central 96 h turnover half-life alone) and the probability of meeting each
    --target (or, for a population statistic such as "median Cavg>=2", whether it is
    met). Covariates come from
    --population, random effects from the model's IIV (and one occasion of IOV); see
    docs/population.md. Runs on all local CPUs (--workers) or a Dask cluster
    (--scheduler) with identical results.

    \b
    Example:
      pkdose population "sirolimus 5 mg weekly" "sirolimus 10 mg weekly" --n 500 \\
          --population older-adults --target "trough<3"
    """
    from pkdose.population import (
        load_population,
        parse_times,
        simulate_observations,
        simulate_population,
        summarise,
        summary_target,
    )
    from pkdose.simulation import load_regimens, model_of_drug

    notice()
    out = Outputs({"--csv": csv_path, "--observe-csv": observe_csv})
    # Targets the summary refuses are refused before any subject is simulated.
    parsed = [summary_target(t) for t in targets]
    for given, flag in ((observe_csv, "--observe-csv"), (lloq_ng_ml, "--lloq")):
        if given and observe is None:  # a limit of observations nobody asked for was ignored
            raise PkdoseError(f"{flag} needs --observe TIMES, e.g. --observe 23.5,167.5")
    times = None if observe is None else parse_times(observe)
    pop = load_population(population)
    regs = [reg for r in regimens for reg in load_regimens(r)]
    frames, fans, observed = [], [], []
    for i, reg in enumerate(regs, start=1):
        use = model_of_drug(model_name, reg)
        bar = ProgressBar(f"arm {i}/{len(regs)}")
        # The fan (hourly curves of the first 4 weeks) is drawn only: without a plot it
        # would cost more than the metrics.
        met, fan = simulate_population(reg, n, pop, seed, use, with_, progress=bar,
                                       workers=workers, scheduler=scheduler,
                                       fan=plot_path is not None)
        bar.close()
        frames.append(met)
        # The arm as its metrics name it, with the co-medications given here.
        arm = met["regimen"].iloc[0]
        fans.append((f"{arm}  [{met['model'].iloc[0]}]", fan))
        if times is not None:
            obs = simulate_observations(reg, n, times, pop, seed, use, with_,
                                        lloq_ng_ml=lloq_ng_ml)
            obs.insert(0, "regimen", arm)
            observed.append(obs)
    metrics = pd.concat(frames, ignore_index=True)
    summary = summarise(metrics, parsed)
    out.text(format_population(summary, pop.name, n, seed))
    if observed:
        obs = pd.concat(observed, ignore_index=True)
        out.text(format_observations(obs, lloq_ng_ml))
        if observe_csv:
            write_csv(obs, observe_csv, float_format)
    if csv_path:
        write_csv(metrics, csv_path, float_format)
    if plot_path:
        from pkdose.plotting import plot_fan

        plot_fan(fans, plot_path, log=log,
                 title=f"{n} virtual subjects per arm ({pop.name}, seed {seed})")
        click.echo(f"wrote {plot_path}", err=True)


_POP_ROWS = [("ctrough_ng_ml", "Ctrough ng/mL", ".3g"), ("cmax_ng_ml", "Cmax ng/mL", ".3g"),
             ("cavg_ng_ml", "Cavg ng/mL", ".3g"), ("auc168_ng_h_ml", "AUC168 ng*h/mL", ".4g"),
             ("t_above_3_h_per_week", "h>3 per week", ".1f"),
             ("mtorc1_mean", "mTORC1 inhibition", ".0%"),
             ("mtorc2_mean", "mTORC2 assembled", ".0%")]


def format_population(summary: pd.DataFrame, pop_name: str, n: int, seed: int) -> str:
    """Plain-text summary per arm: headline percentiles, verdict fractions, targets."""
    from pkdose.population import PERCENTILES
    from pkdose.results import VERDICT_LABELS, number, text_table

    out = []
    for reg, g in summary.groupby("regimen", sort=False):
        out.append(f"{reg}: {n} subjects ({pop_name}, seed {seed})")
        by = g.set_index("statistic")
        rows = [[label, *(number(by.loc[col, f"p{p}"], fmt) for p in PERCENTILES)]
                for col, label, fmt in _POP_ROWS if col in by.index]
        out.append(text_table(["", "p5", "p25", "median", "p75", "p95"], rows, indent="  ",
                              rule=False).rstrip("\n"))
        for prefix, label in (("mtorc2 ", "mTORC2 verdict (as pkdose flag: the same at "
                                          "48, 96 and 168 h turnover, else equivocal): "),
                              ("mtorc2 central ", "at the central 96 h turnover alone: ")):
            verdicts = [f"{v} {number(by.loc[prefix + v, 'fraction'], '.0%')}"
                        for v in VERDICT_LABELS if prefix + v in by.index]
            if verdicts:
                out.append("  " + label + ", ".join(verdicts))
        for s, f in by["fraction"].items():
            if s.startswith("P("):
                out.append(f"  {s} = {number(f, '.1%')}")
            elif s.endswith(("met", "not met")) and ": " in s:  # a population statistic
                out.append(f"  {s} ({number(by.loc[s, 'p50'])})")
        out.append("")
    out.append("whole-blood concentrations; steady-state cycle for regimens that go on, first "
               "week for regimens that stop, the whole course for regimens with one-off dose "
               "changes or co-medications for some days; no residual error (see "
               "docs/population.md)")
    return "\n".join(out) + "\n"


def format_observations(obs: pd.DataFrame, lloq_ng_ml: float = 0.0) -> str:
    """Per arm and sampling time: percentiles of simulated observed concentrations, with
    the share reported below the limit of quantification (BLQ)."""
    from pkdose.censoring import censored_percentiles
    from pkdose.results import number

    limit = f"<{lloq_ng_ml:g}" if lloq_ng_ml > 0 else "BLQ"
    out = []
    for reg, g in obs.groupby("regimen", sort=False):
        out.append(f"{reg}: simulated observations (ng/mL; 5/50/95th percentiles; BLQ = "
                   "below the limit of quantification)")
        for t, h in g.groupby("time_h", sort=True):
            n_blq = int(h["blq"].sum())
            q = censored_percentiles(h["obs_ng_ml"].to_numpy(), h["blq"].to_numpy(),
                                     (5, 50, 95))
            cells = [limit if np.isnan(v) else number(v) for v in q]
            out.append(f"  {t:g} h (dose {int(h['occasion'].iloc[0])}): "
                       f"{' / '.join(cells)}; BLQ {n_blq} of {len(h)} "
                       f"({number(100 * n_blq / len(h), '.1f')} %)")
        out.append("")
    lloq = (f"below {lloq_ng_ml:g} ng/mL or at or below 0" if lloq_ng_ml > 0
            else "at or below 0 (no --lloq given)")
    out.append("observed = predicted with one between-occasion draw per dose and the model's "
               f"residual error; reported BLQ when {lloq} (see docs/population.md)")
    return "\n".join(out) + "\n"
