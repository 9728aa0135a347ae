"""Command-line interface: a thin layer over the library (parse, call, format).

Results go to stdout; the research-use notice, warnings and errors go to stderr, so
output can be piped. Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import json
import math
import re
import warnings

import click
import numpy as np
import pandas as pd

from pkdose import NOTICE, __version__
from pkdose.errors import ExtrapolationWarning, PkdoseError

_UNIT_H = {"": 1.0, "h": 1.0, "hr": 1.0, "hrs": 1.0, "hour": 1.0, "hours": 1.0,
           "min": 1 / 60, "mins": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60,
           "d": 24.0, "day": 24.0, "days": 24.0, "w": 168.0, "wk": 168.0, "week": 168.0,
           "weeks": 168.0}


def parse_duration(text: str, what: str) -> float:
    """'12w', '84d', '36h', '30min' or a bare number of hours."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*([a-z]*)\s*", str(text).lower())
    if not m or m.group(2) not in _UNIT_H:
        raise PkdoseError(f"cannot read {what} {text!r}; write e.g. 12w, 84d, 36h or 30min")
    value = float(m.group(1)) * _UNIT_H[m.group(2)]
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
    subj: dict[str, object] = {}
    for key, val in (("weight_kg", weight), ("height_cm", height), ("age_y", age),
                     ("hct_pct", hct)):
        if val is not None:
            subj[key] = val
    if sex:
        subj["sex"] = sex
    for item in covariate:
        key, sep, val = item.partition("=")
        if not sep:
            raise PkdoseError(f"cannot read --covariate {item!r}; write NAME=VALUE")
        subj[key.strip().lower()] = val.strip()
    return subj


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


def _err(msg: str) -> None:
    click.echo(f"pkdose: error: {msg}", err=True)


def _notice() -> None:
    click.echo(f"note: {NOTICE}", err=True)


class _Group(click.Group):
    """Turn PkdoseError (and a few library errors) into one line and exit status 2."""

    def invoke(self, ctx):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ExtrapolationWarning)
            try:
                return super().invoke(ctx)
            except PkdoseError as exc:
                _err(str(exc))
                ctx.exit(2)
            finally:
                seen = set()
                for w in caught:
                    msg = str(w.message)
                    if issubclass(w.category, ExtrapolationWarning) and msg not in seen:
                        seen.add(msg)  # the PK and PD passes warn about the same regimen
                        click.echo(f"warning: {msg}", err=True)


def _plot_options(plot_help: str):
    """--plot FILE, --log and --pd, shared by the commands that draw curves."""

    def deco(f):
        f = click.option("--pd", "show_pd", is_flag=True,
                         help="Add a panel with mTORC1 inhibition and mTORC2 fraction to the "
                              "plot.")(f)
        f = click.option("--log", is_flag=True, help="Log concentration axis in the plot.")(f)
        return click.option("--plot", "plot_path",
                            type=click.Path(dir_okay=False, writable=True), help=plot_help)(f)

    return deco


def _model_options(f):
    f = click.option("--with", "with_", multiple=True, metavar="COMEDICATION",
                     help="Co-medication applied through the cited interaction layer, e.g. "
                          "ciclosporin, ketoconazole, grapefruit-juice (repeatable; "
                          "see `pkdose interactions`).")(f)
    f = click.option("--band", multiple=True, metavar="LOW-HIGH[:LABEL]",
                     help="Shade a concentration range in the plot, e.g. 3-8:target trough "
                          "(ng/mL, repeatable).")(f)
    f = click.option("--covariate", multiple=True, metavar="NAME=VALUE",
                     help="Other covariates, e.g. ast_iu_l=50, prednisolone_mg_day=20.")(f)
    f = click.option("--hct", type=float, help="Haematocrit (%); default 44.")(f)
    f = click.option("--age", type=float, help="Age (years); default 50.")(f)
    f = click.option("--sex", type=click.Choice(["male", "female"]), help="Default male.")(f)
    f = click.option("--height", type=float, help="Height (cm); default 180.")(f)
    f = click.option("--weight", type=float, help="Body weight (kg); default 70.")(f)
    f = click.option("--param", multiple=True, metavar="NAME=VALUE",
                     help="Override a typical parameter value, e.g. cl=7.5 (repeatable).")(f)
    f = click.option("--model", "model_name", metavar="NAME|FILE",
                     help="Model name (see `pkdose models`) or model TOML file; "
                          "default: the drug's default model.")(f)
    return f


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pkdose")
def main() -> None:
    """pkdose: predicted whole-blood exposure of rapamycin (sirolimus) and everolimus regimens.

    \b
    Example:
      pkdose compare "rapamycin 1 mg daily" "rapamycin 6 mg weekly" "everolimus 5 mg weekly"

    For research and trial design only; not medical advice.
    """


@main.command()
@click.argument("regimen")
@click.option("--until", "until", metavar="DURATION", help="Simulate until, e.g. 12w, 84d, 336h.")
@click.option("--step", default="1h", show_default=True, metavar="DURATION",
              help="Output time step, e.g. 1h, 15min.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the curve to a CSV file instead of stdout.")
@click.option("--species", type=click.Choice(["mouse", "dog", "marmoset"]),
              help="Simulate an animal with the species' default model (ip, sc and ppm "
                   "diets need one); default human.")
@click.option("--food", type=float, help="Animal food intake (g/day) for ppm diets.")
@_plot_options("Save a figure (PNG/SVG/PDF).")
@_model_options
def simulate(regimen, until, step, csv_path, species, food, plot_path, log, show_pd,
             model_name, param, weight, height, sex, age, hct, covariate, band, with_):
    """Concentration-time curve of one regimen (time_h, conc_ng_ml [, plasma_ng_ml]).

    REGIMEN is regimen text, a regimen TOML file or a one-subject event-table CSV.

    \b
    Example:
      pkdose simulate "sirolimus 6 mg loading then 2 mg daily" --until 4w --plot s.png
      pkdose simulate "rapamycin 14 ppm diet" --species mouse --until 1w
    """
    from pkdose.plotting import plot_curves
    from pkdose.simulate import as_regimen
    from pkdose.simulate import simulate as run

    _notice()
    reg = as_regimen(regimen)
    subj = subject_from_options(weight, height, sex, age, hct, covariate)
    if food is not None:
        subj["food_g_day"] = food
    df = run(reg, model_name, subj, until_h=parse_duration(until, "--until") if until else None,
             step_h=parse_duration(step, "--step"), params=parse_params(param), with_=with_,
             species=species)
    if csv_path:
        _write(df.to_csv(index=False, float_format="%.6g"), csv_path)
        click.echo(f"wrote {csv_path}", err=True)
    else:
        click.echo(df.to_csv(index=False, float_format="%.6g"), nl=False)
    if plot_path:
        plot_curves([(str(reg), df)], plot_path, log=log, bands=parse_bands(band),
                    pd_curves=[_pd_frame(reg, df)] if show_pd else None)
        click.echo(f"wrote {plot_path}", err=True)


def _pct(v: float) -> str:
    return f"{100 * v:.0f}"


_TABLE_COLUMNS = [
    ("regimen", "regimen", str),
    ("model", "model", str),
    ("basis", "basis", str),
    ("cmax_ng_ml", "Cmax", "{:.3g}".format),
    ("tmax_h", "Tmax h", "{:.2f}".format),
    ("ctrough_ng_ml", "Ctrough", "{:.3g}".format),
    ("cavg_ng_ml", "Cavg", "{:.3g}".format),
    ("auc168_ng_h_ml", "AUC168", "{:.4g}".format),
    ("ptf_pct", "PTF %", "{:.0f}".format),
    ("t_above_3_h", "h>3", "{:.1f}".format),
    ("t_below_1_longest_h", "longest h<1", "{:.1f}".format),
    ("mtorc1_mean", "mTORC1 %", _pct),
    ("mtorc2_mean", "mTORC2 %", _pct),
    ("mtorc2_verdict", "mTORC2 verdict", str),
]


def format_against(placed: dict) -> str:
    """The reference rows, and for each regimen its nearest reference and trough position."""
    refs = placed["references"]
    if refs.empty:
        return "\nno systemic reference regimen of this drug in the chosen groups\n"
    shown = refs.copy()
    shown["regimen"] = [f"{n}: {r}" for n, r in zip(shown["reference"], shown["regimen"],
                                                     strict=True)]
    text = ("\nreference regimens (steady state of the repeating dose, default model, with "
            "their co-medication):\n" + format_table(shown))
    for _, n in placed["nearest"].iterrows():
        ratios = ", ".join(f"{label} x{n[f'{label}_ratio']:.2g}"
                           for label in ("AUC168", "Cavg", "Cmax", "Ctrough"))
        text += (f"\n{n['regimen']}: nearest reference by exposure is {n['reference']} "
                 f"({n['reference_regimen']}): {ratios}\n")
        tg = placed["targets"]
        for _, t in tg[tg["regimen"] == n["regimen"]].iterrows():
            if t["kind"] == "signal":
                rel = "above" if t["position"] != "below" else "below"
                text += (f"  trough {t['ctrough_ng_ml']:.2g} ng/mL is {rel} the "
                         f"{t['low_ng_ml']:g} ng/mL signal of {t['reference']}\n")
            else:
                text += (f"  trough {t['ctrough_ng_ml']:.2g} ng/mL is {t['position']} "
                         f"{t['low_ng_ml']:g}-{t['high_ng_ml']:g} ng/mL ({t['reference']}: "
                         f"{t['applies_to']})\n")
    return text


def format_table(df: pd.DataFrame) -> str:
    """Aligned plain-text table of the headline metrics."""
    df = df.copy()
    if "comedication" in df.columns:
        df["regimen"] = [r if not c else f"{r} + {c.replace('+', ' + ')}"
                         for r, c in zip(df["regimen"], df["comedication"], strict=True)]
    cols = [(c, h, f) for c, h, f in _TABLE_COLUMNS if c in df.columns]
    cells = [[h for _, h, _ in cols]]
    for _, row in df.iterrows():
        line = []
        for c, _, f in cols:
            v = row[c]
            line.append(f(v) if not (isinstance(v, float) and np.isnan(v)) else "-")
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    out = []
    for k, r in enumerate(cells):
        parts = [r[i].ljust(widths[i]) if i < 3 or cols[i][0] == "mtorc2_verdict"
                 else r[i].rjust(widths[i]) for i in range(len(cols))]
        out.append("  ".join(parts).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    legend = ("concentrations in whole blood, ng/mL; AUC168 = AUC per week (ng*h/mL); "
              "PTF = peak-trough fluctuation; h>3 = hours above 3 ng/mL in the summarised "
              "cycle or window; mTORC1 % = mean inhibition; mTORC2 % = mean assembled "
              "fraction (a research hypothesis: see pkdose flag)")
    return "\n".join(out) + "\n" + legend + "\n"


@main.command()
@click.argument("regimens", nargs=-1, required=True)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Write all metrics (one row per regimen) to CSV.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True),
              help="Write all metrics to JSON.")
@_plot_options("Overlay the curves in one figure (PNG/SVG/PDF).")
@click.option("--until", metavar="DURATION", help="Plot horizon, default 4 weeks.")
@click.option("--window", metavar="START-END",
              help="Summarise this window after the first dose instead (e.g. 0-1w, 5w-6w).")
@click.option("--against", metavar="GROUPS",
              help="Place the regimens among reference regimens: transplant, oncology, tsc, "
                   "lam, ageing, all (comma-separated).")
@click.option("--species", type=click.Choice(["mouse", "dog", "marmoset"]),
              help="Compare animal regimens with the species' default model; default human.")
@_model_options
def compare(regimens, csv_path, json_path, plot_path, log, show_pd, until, window, against,
            species, model_name, param, weight, height, sex, age, hct, covariate, band,
            with_):
    """Exposure metrics of several regimens side by side, one row per regimen.

    Each REGIMEN is regimen text, a regimen TOML file, or an event-table CSV (one regimen
    per ID). Regimens that repeat indefinitely are summarised at steady state over one cycle;
    regimens that stop, over their first week.

    \b
    Example:
      pkdose compare "rapamycin 1 mg daily" "rapamycin 6 mg weekly" "everolimus 5 mg weekly"
    """
    from pkdose.compare import compare as run
    from pkdose.plotting import plot_curves
    from pkdose.simulate import load_regimens
    from pkdose.simulate import simulate as sim

    _notice()
    regs = [reg for r in regimens for reg in load_regimens(r)]
    bands = parse_bands(band)
    subj = subject_from_options(weight, height, sex, age, hct, covariate)
    params = parse_params(param)
    df = run(regs, model_name, subj, params, parse_window(window) if window else None,
             with_=with_, species=species)
    click.echo(format_table(df), nl=False)
    placed = None
    if against:
        from pkdose.compare import against as place
        from pkdose.compare import parse_against

        placed = place(df, parse_against(against), subj)
        click.echo(format_against(placed), nl=False)
        for _, t in placed["targets"].iterrows():
            if t["kind"] != "signal":
                bands.append((f"{t['reference']} {t['low_ng_ml']:g}-{t['high_ng_ml']:g}",
                              float(t["low_ng_ml"]), float(t["high_ng_ml"])))
        bands = list(dict.fromkeys(bands))
    out = df if placed is None else pd.concat(
        [df.assign(role="regimen"), placed["references"].assign(role="reference")],
        ignore_index=True)
    if csv_path:
        _write(out.to_csv(index=False, float_format="%.10g"), csv_path)
        click.echo(f"wrote {csv_path}", err=True)
    if json_path:
        payload = {"notice": NOTICE, "pkdose_version": __version__,
                   "rows": json.loads(out.to_json(orient="records", double_precision=8))}
        if placed is not None:
            for key in ("ratios", "nearest", "targets"):
                payload[key] = json.loads(placed[key].to_json(orient="records",
                                                              double_precision=8))
        _write(json.dumps(payload, indent=2) + "\n", json_path)
        click.echo(f"wrote {json_path}", err=True)
    if plot_path:
        horizon = parse_duration(until, "--until") if until else 4 * 168.0
        # Fine enough to draw the ~0.7 h everolimus peaks; bounded for long horizons.
        step = min(0.1, horizon / 4000.0)
        curves = []
        for reg, (_, row) in zip(regs, df.iterrows(), strict=True):
            model = row["model"]
            curves.append((f"{reg}  [{model}]",
                           sim(reg, model, subj, until_h=horizon, step_h=step, params=params,
                               with_=with_)))
        pdc = [_pd_frame(reg, c) for reg, (_, c) in zip(regs, curves, strict=True)] \
            if show_pd else None
        thin = []
        if placed is not None and len(placed["references"]):
            from pkdose.compare import _repeating
            from pkdose.references import get

            for name in placed["references"]["reference"]:
                ref = get(name)
                thin.append(sim(_repeating(ref.regimen), None, subj, until_h=horizon,
                                step_h=step, with_=ref.comedication))
        plot_curves(curves, plot_path, log=log, bands=bands, pd_curves=pdc, thin=thin)
        click.echo(f"wrote {plot_path}", err=True)


@main.command()
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

    _notice()
    argv = ["pkdose", "report", *paths, "--out", out_dir]
    if against:
        argv += ["--against", against]
    if formats != "html,csv,json,md":
        argv += ["--format", formats]

    def progress(i: int, n: int, path: str) -> None:
        click.echo(f"[{i}/{n}] {path}", err=True)

    res = build_report(paths, out_dir, against=against, formats=formats.split(","),
                       command=shlex.join(argv), progress=progress)
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


@main.command()
@click.option("--drug", help="Only models of this drug.")
def models(drug):
    """List the drug models with their sources.

    \b
    Example:
      pkdose models --drug everolimus
    """
    from pkdose.model import builtin_models

    _notice()
    shown = 0
    for m in builtin_models(species=None).values():
        if drug:
            from pkdose.drugs import resolve_drug

            if m.drug != resolve_drug(drug):
                continue
        shown += 1
        flag = " (default)" if m.default else ""
        if m.is_animal:
            flag = f" ({m.species}{', default' if m.default else ''}; docs/species.md)"
        pop = m.population
        click.echo(f"{m.name}{flag} - {m.drug}: {m.title}")
        click.echo(f"    population: {pop.get('description', '')}")
        if "dose_mg" in pop:
            click.echo(f"    doses fitted: {pop['dose_mg'][0]:g}-{pop['dose_mg'][1]:g} mg "
                       f"({pop.get('dosing', '')})")
        click.echo(f"    source: {m.source.get('citation', '')} doi:{m.source.get('doi', '')}")
    if not shown:
        raise PkdoseError(f"no model for {drug!r}")


def _pd_frame(reg, df: pd.DataFrame) -> pd.DataFrame:
    """mTOR PD along a simulated curve (drug-free start), for the plot panel."""
    from pkdose.pd import curve_pd

    return curve_pd(reg.drug, df)


@main.command()
@click.argument("regimens", nargs=-1, required=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the verdicts, reasons and numbers to JSON.")
@click.option("--species", type=click.Choice(["mouse", "dog", "marmoset"]),
              help="Judge animal regimens with the species' default model and its mTORC2 "
                   "turnover; default human.")
@_model_options
def flag(regimens, json_path, species, model_name, param, weight, height, sex, age, hct,
         covariate, band, with_):
    """mTORC2 verdict (spared / equivocal / inhibited) with its reasons, per regimen.

    The verdict comes from a turnover model of assembled mTORC2 calibrated to labelled
    regimens (docs/mtorc2.md), checked against simple threshold rules. It is a research
    hypothesis, not a clinical prediction.

    \b
    Example:
      pkdose flag "sirolimus 1 mg daily" "sirolimus 6 mg weekly" "everolimus 5 mg weekly"
    """
    from pkdose.model import get_model
    from pkdose.pd import regimen_pd
    from pkdose.simulate import load_regimens

    _notice()
    regs = [reg for r in regimens for reg in load_regimens(r)]
    subj = subject_from_options(weight, height, sex, age, hct, covariate)
    params = parse_params(param)
    chosen = get_model(model_name) if model_name else None
    out = []
    for reg in regs:
        use = chosen if chosen is not None and chosen.drug == reg.drug else None
        if use is None and species:
            use = get_model(drug=reg.drug, species=species)
        verdict, _ = regimen_pd(reg, use, subj, params, with_=with_,
                                species=use.species if use is not None else "human")
        click.echo(f"{reg}: {verdict.label}")
        for reason in verdict.reasons:
            click.echo(f"  - {reason}")
        out.append({"regimen": str(reg), "verdict": verdict.label,
                    "rule_verdict": verdict.rule_label, "reasons": list(verdict.reasons),
                    "verdict_by_turnover_half_life_h": {f"{k:g}": v for k, v in
                                                        verdict.model_labels.items()},
                    "metrics": dict(verdict.metrics)})
    if json_path:
        payload = {"notice": NOTICE, "pkdose_version": __version__, "regimens": out}
        _write(json.dumps(payload, indent=2) + "\n", json_path)
        click.echo(f"wrote {json_path}", err=True)


@main.group(invoke_without_command=True)
@click.option("--purpose", help="Only this purpose: transplant, oncology, tsc, lam, "
                                "ageing (= ageing-trial and planned-ageing-trial), "
                                "ageing-trial, planned-ageing-trial, topical.")
@click.option("--drug", help="Only this drug.")
@click.pass_context
def references(ctx, purpose, drug):
    """The reference regimen library (regimens/*.toml), with citations.

    \b
    Example:
      pkdose references --purpose ageing-trial
      pkdose references show mannick2014
    """
    if ctx.invoked_subcommand is not None:
        return
    from pkdose.drugs import resolve_drug
    from pkdose.references import load

    _notice()
    from pkdose.compare import AGAINST_GROUPS

    purposes = AGAINST_GROUPS.get(purpose, (purpose,)) if purpose else (None,)
    frames = [load(purpose=p, drug=resolve_drug(drug) if drug else None) for p in purposes]
    df = pd.concat(frames, ignore_index=True)
    if df.empty:
        raise PkdoseError("no reference regimen matches; try without --purpose/--drug")
    width = max(len(n) for n in df["name"])
    for _, row in df.iterrows():
        comed = f" + {' + '.join(row['comedication'])}" if row["comedication"] else ""
        topical = "" if row["systemic"] else "  (applied to the skin; no systemic exposure)"
        click.echo(f"{row['name']:<{width}}  {row['purpose']:<20}  {row['regimen']}{comed}"
                   f"{topical}")


@references.command("show")
@click.argument("name")
def references_show(name):
    """One reference: regimen, population, source, observed exposure, target ranges.

    \b
    Example:
      pkdose references show afinitor-10mg-daily
    """
    from pkdose.references import get

    _notice()
    ref = get(name)
    click.echo(f"{ref.name}: {ref.title}")
    click.echo(f"  drug: {ref.drug}   purpose: {ref.purpose}")
    click.echo(f"  regimen: {ref.regimen}" + (f" + {' + '.join(ref.comedication)}"
                                              if ref.comedication else ""))
    for arm in ref.arms:
        click.echo(f"  arm {arm.name}: {arm.regimen}")
    pop = ref.population
    click.echo(f"  population: {pop.description}" + (f" (n = {pop.n})" if pop.n else ""))
    if ref.species != "human":
        click.echo(f"  species: {ref.species}   strain: {ref.strain}   start: {ref.start_age}")
    for ls in ref.lifespan:
        delta = ("extended (no number)" if ls.delta_median_pct is None
                 else f"{ls.delta_median_pct:+g} %" + (" (NS)" if ls.significant is False else ""))
        click.echo(f"  median lifespan, {ls.sex}{' ' + ls.arm if ls.arm else ''}: {delta}")
    click.echo(f"  source: {ref.source.get('citation', '')}")
    for key in ("doi", "pmid", "pmcid", "label"):
        if ref.source.get(key):
            click.echo(f"    {key}: {ref.source[key]}")
    for ob in ref.observed:
        click.echo(f"  observed {ob.metric}: {ob.value:g} {ob.unit}"
                   + (f" ({ob.spread})" if ob.spread else ""))
    for tg in ref.targets:
        rng = f"{tg.low:g}-{tg.high:g}" if tg.high else f">= {tg.low:g}"
        click.echo(f"  target {tg.metric} {rng} {tg.unit}: {tg.applies_to}")
    for note in ref.notes:
        click.echo(f"  note: {note}")
    if not ref.systemic:
        click.echo("  not systemic: modelled as no blood exposure")


@main.command()
@click.option("--drug", help="Only this drug.")
def interactions(drug):
    """Co-medications known to the interaction layer, with their fold-changes and sources.

    \b
    Example:
      pkdose interactions --drug everolimus
    """
    from pkdose.drugs import resolve_drug
    from pkdose.interactions import list_interactions

    _notice()
    df = list_interactions(resolve_drug(drug) if drug else None)
    cols = ["drug", "comedication", "auc_ratio", "cmax_ratio", "cl_factor", "f_factor",
            "citation"]
    click.echo(df[cols].to_string(index=False, max_colwidth=60,
                                  float_format=lambda x: f"{x:.3g}"))
    click.echo("Fold-changes on CL/F and F; derivation and caveats: docs/interactions.md",
               err=True)


@main.command()
@click.option("--check", is_flag=True,
              help="Do not write: exit with status 2 if the page is stale.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write the page here instead (default: docs/validation.md in a source "
                   "checkout, else ./validation.md).")
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
    from pkdose.validation import reference_validation
    from pkdose.dev.validation_report import reference_summary, reference_summary_lines, render

    _notice()
    docs = Path(pkdose.__file__).resolve().parents[1] / "docs"
    if out_path is not None:
        path = Path(out_path)
    elif docs.is_dir():
        path = docs / "validation.md"
    else:
        path = Path("validation.md")
    ref = reference_validation()
    text = render(ref)
    for line in reference_summary_lines(reference_summary(ref)):
        click.echo(line)
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if check:
        if old != text:
            again = "pkdose validate" + (f" --out {out_path}" if out_path else "")
            raise PkdoseError(f"{path} is stale; run {again}")
        click.echo(f"{path} is up to date", err=True)
    elif old != text:
        _write(text, str(path))
        click.echo(f"wrote {path}", err=True)


@main.command()
@click.argument("regimens", nargs=-1, required=True)
@click.option("--n", "n", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Virtual subjects per arm.")
@click.option("--population", "population", metavar="NAME|FILE.csv",
              help="older-adults, transplant-adults, or a CSV of covariates (one row per "
                   "subject); default: the typical subject with the model's variability.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Same seed, same subjects (every arm uses the same subjects).")
@click.option("--target", "targets", multiple=True, metavar="METRIC<VALUE",
              help="Probability of target attainment, e.g. \"trough<3\", \"AUC168>300\", "
                   "\"mtorc2>=0.8\" (repeatable).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the per-subject metrics (all arms) to CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True),
              help="Fan chart of the first 4 weeks: median, 50 % and 90 % bands per arm.")
@click.option("--log", is_flag=True, help="Log concentration axis in the plot.")
@click.option("--model", "model_name", metavar="NAME|FILE",
              help="Model for the regimens of its drug; default: each drug's default model.")
@click.option("--with", "with_", multiple=True, metavar="COMEDICATION",
              help="Co-medication applied to every subject (repeatable).")
@click.option("--observe", "observe", metavar="TIMES",
              help="Also simulate observed concentrations (one IOV occasion per dose, the "
                   "model's residual error) at these hours, e.g. \"23.5,167.5\".")
@click.option("--observe-csv", "observe_csv", type=click.Path(dir_okay=False, writable=True),
              help="Write the simulated observations (all arms) to CSV.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local processes (default: one per CPU for 1024+ subjects; 1: in this "
                   "process). Results are identical for any number.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on a Dask cluster, e.g. tcp://host:8786 (pip install 'pkdose[dask]').")
def population(regimens, n, population, seed, targets, csv_path, plot_path, log, model_name,
               with_, observe, observe_csv, workers, scheduler):
    """Spread of exposure and mTOR engagement over virtual subjects, per regimen (arm).

    Prints per arm the 5/25/50/75th/95th percentiles of the exposure metrics and of mTORC1
    inhibition, the fraction of subjects per mTORC2 verdict (judged at a 96 h turnover
    half-life) and the probability of meeting each --target. Covariates come from
    --population, random effects from the model's IIV (and one occasion of IOV); see
    docs/population.md. Runs on all local CPUs (--workers) or a Dask cluster
    (--scheduler) with identical results.

    \b
    Example:
      pkdose population "sirolimus 5 mg weekly" "sirolimus 10 mg weekly" --n 500 \\
          --population older-adults --target "trough<3"
    """
    from pkdose.model import get_model
    from pkdose.plotting import plot_fan
    from pkdose.population import (
        auto_workers,
        load_population,
        parse_target,
        parse_times,
        simulate_observations,
        simulate_population,
        summarise,
    )
    from pkdose.simulate import load_regimens

    _notice()
    parsed = [parse_target(t) for t in targets]
    if observe_csv and not observe:
        raise PkdoseError("--observe-csv needs --observe TIMES, e.g. --observe 23.5,167.5")
    times = parse_times(observe) if observe else None
    pop = load_population(population)
    regs = [reg for r in regimens for reg in load_regimens(r)]
    chosen = get_model(model_name) if model_name else None
    frames, fans, observed = [], [], []
    for i, reg in enumerate(regs, start=1):
        use = chosen if chosen is not None and chosen.drug == reg.drug else None
        bar = _ProgressBar(f"arm {i}/{len(regs)}")
        met, fan = simulate_population(reg, n, pop, seed, use, with_, progress=bar,
                                       workers=workers or auto_workers(n),
                                       scheduler=scheduler)
        bar.close()
        frames.append(met)
        fans.append((f"{reg}  [{met['model'].iloc[0]}]", fan))
        if times is not None:
            obs = simulate_observations(reg, n, times, pop, seed, use, with_)
            obs.insert(0, "regimen", str(reg))
            observed.append(obs)
    metrics = pd.concat(frames, ignore_index=True)
    summary = summarise(metrics, parsed)
    click.echo(format_population(summary, pop.name, n, seed), nl=False)
    if observed:
        obs = pd.concat(observed, ignore_index=True)
        click.echo(format_observations(obs), nl=False)
        if observe_csv:
            _write(obs.to_csv(index=False, float_format="%.8g"), observe_csv)
            click.echo(f"wrote {observe_csv}", err=True)
    if csv_path:
        _write(metrics.to_csv(index=False, float_format="%.8g"), csv_path)
        click.echo(f"wrote {csv_path}", err=True)
    if plot_path:
        plot_fan(fans, plot_path, log=log,
                 title=f"{n} virtual subjects per arm ({pop.name}, seed {seed})")
        click.echo(f"wrote {plot_path}", err=True)


_POP_ROWS = [("ctrough_ng_ml", "Ctrough ng/mL", "{:.3g}"), ("cmax_ng_ml", "Cmax ng/mL", "{:.3g}"),
             ("cavg_ng_ml", "Cavg ng/mL", "{:.3g}"), ("auc168_ng_h_ml", "AUC168 ng*h/mL", "{:.4g}"),
             ("t_above_3_h", "h>3 per cycle", "{:.1f}"),
             ("mtorc1_mean", "mTORC1 inhibition", "{:.0%}"),
             ("mtorc2_mean", "mTORC2 assembled", "{:.0%}")]


_VERDICTS = ("spared", "equivocal", "inhibited")


def format_population(summary: pd.DataFrame, pop_name: str, n: int, seed: int) -> str:
    """Plain-text summary per arm: headline percentiles, verdict fractions, targets."""
    out = []
    for reg, g in summary.groupby("regimen", sort=False):
        out.append(f"{reg}: {n} subjects ({pop_name}, seed {seed})")
        by = g.set_index("statistic")
        cells = [["", "p5", "p25", "median", "p75", "p95"]]
        for col, label, fmt in _POP_ROWS:
            if col in by.index:
                cells.append([label] + [fmt.format(by.loc[col, f"p{p}"])
                                        for p in (5, 25, 50, 75, 95)])
        widths = [max(len(r[i]) for r in cells) for i in range(6)]
        for r in cells:
            out.append("  " + "  ".join(r[0].ljust(widths[0]) if i == 0 else
                                        r[i].rjust(widths[i]) for i in range(6)).rstrip())
        for prefix, label in (("mtorc2 ", "mTORC2 verdict (96 h turnover): "),
                              ("mtorc2 prior ", "same verdict at 48, 96 and 168 h (else "
                                                "equivocal): ")):
            verdicts = [f"{s[len(prefix):]} {f:.0%}" for s, f in by["fraction"].items()
                        if s.startswith(prefix) and s[len(prefix):] in _VERDICTS]
            if verdicts:
                out.append("  " + label + ", ".join(verdicts))
        for s, f in by["fraction"].items():
            if s.startswith("P("):
                out.append(f"  {s} = {f:.1%}")
        out.append("")
    out.append("whole-blood concentrations; steady-state cycle for regimens that go on, first "
               "week for regimens that stop; no residual error (see docs/population.md)")
    return "\n".join(out) + "\n"


def format_observations(obs: pd.DataFrame) -> str:
    """Per arm and sampling time: percentiles of simulated observed concentrations."""
    out = []
    for reg, g in obs.groupby("regimen", sort=False):
        out.append(f"{reg}: simulated observations (ng/mL; 5/50/95th percentiles)")
        for t, h in g.groupby("time_h", sort=True):
            q = np.percentile(h["obs_ng_ml"], (5, 50, 95))
            out.append(f"  {t:g} h (dose {int(h['occasion'].iloc[0])}): "
                       f"{q[0]:.3g} / {q[1]:.3g} / {q[2]:.3g}")
        out.append("")
    out.append("observed = predicted with one between-occasion draw per dose and the model's "
               "residual error (see docs/population.md)")
    return "\n".join(out) + "\n"


class _ProgressBar:
    """A one-line progress bar on stderr, shown once a run has taken over 2 seconds."""

    def __init__(self, label: str, after_s: float = 2.0) -> None:
        import time

        self.label, self.after_s, self.clock = label, after_s, time.monotonic
        self.start, self.shown = time.monotonic(), False

    def __call__(self, done: int, total: int) -> None:
        elapsed = self.clock() - self.start
        if elapsed < self.after_s and not self.shown:
            return
        self.shown = True
        filled = int(30 * done / max(total, 1))
        rate = done / elapsed if elapsed > 0 else 0.0
        click.echo(f"\r[{self.label}] [{'#' * filled}{'.' * (30 - filled)}] "
                   f"{done}/{total} subjects, {rate:,.0f}/s", err=True, nl=False)

    def close(self) -> None:
        """End the bar's line (if it was shown)."""
        if self.shown:
            click.echo("", err=True)


@main.command()
@click.option("--regimen", "regimen", required=True,
              help="The regimen the person follows, e.g. \"sirolimus 6 mg weekly\".")
@click.option("--levels", "levels_path", required=True, type=click.Path(dir_okay=False),
              help="CSV of measured levels: time (2026-03-02 08:30 or hours since the first "
                   "dose), conc_ng_ml, optional dose_mg rows (doses actually taken).")
@click.option("--first-dose", "first_dose", metavar="TIME",
              help="Clock time of the first dose, e.g. \"2026-03-02 08:00\" (needed with "
                   "clock times unless the CSV has dose rows).")
@click.option("--covariates", metavar="NAME=VALUE,...",
              help="e.g. age=67,weight=82,hct=41 (also height, sex, ast, prednisolone).")
@click.option("--model", "model_name", metavar="NAME|FILE",
              help="Model name or file; default: the drug's default model.")
@click.option("--with", "with_", multiple=True, metavar="COMEDICATION",
              help="Co-medication applied through the cited interaction layer (repeatable).")
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
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the posterior sampling.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the fitted curve with its 90 % band to CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True),
              help="Figure of the fit: measured levels, MAP curve, band, typical curve.")
@click.option("--log", is_flag=True, help="Log concentration axis in the plot.")
def individual(regimen, levels_path, first_dose, covariates, model_name, with_, target,
               max_tablets, missed, late, seed, csv_path, plot_path, log):
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
    from pkdose.plotting import plot_individual
    from pkdose.simulate import as_regimen

    _notice()
    if missed and late:
        raise PkdoseError("give --missed or --late, not both")
    reg = as_regimen(regimen)
    tgt = ind.parse_dose_target(target) if target else None
    when = parse_when(missed or late) if (missed or late) else None
    if late and when[1] is None:
        raise PkdoseError(f"--late needs the delay, e.g. {late}+12h")
    fit = ind.estimate(reg, levels_path, model_name, ind.parse_covariates(covariates),
                       with_=with_, first_dose=first_dose, seed=seed)
    click.echo(format_individual(fit, ind.parameters(fit), ind.fitted_levels(fit),
                                 ind.exposure(fit), ind.verdict(fit)), nl=False)
    if tgt is not None:
        click.echo(format_recommendation(ind.recommend(fit, tgt, max_tablets)), nl=False)
    options = None
    if when is not None:
        table, options = ind.dose_options(fit, when[0], when[1], late=bool(late))
        click.echo(format_dose_options(table), nl=False)
    cur = ind.curve(fit)
    if csv_path:
        _write(cur.to_csv(index=False, float_format="%.6g"), csv_path)
        click.echo(f"wrote {csv_path}", err=True)
    if plot_path:
        bands = [(tgt.text, tgt.low, tgt.high)] if tgt is not None and tgt.column in (
            "ctrough_ng_ml", "cmin_ng_ml") else []
        plot_individual(cur, ind.fitted_levels(fit), plot_path, log=log, options=options,
                        bands=bands, title=f"{reg}: fit to {fit.levels.time_h.size} measured "
                                           f"levels [{fit.model.name}]")
        click.echo(f"wrote {plot_path}", err=True)


def _g(x: float) -> str:
    return f"{x:.3g}"


def _rows(cells: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return [indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in cells]


_IND_METRICS = [("ctrough_ng_ml", "Ctrough ng/mL", _g), ("cmax_ng_ml", "Cmax ng/mL", _g),
                ("cavg_ng_ml", "Cavg ng/mL", _g),
                ("auc168_ng_h_ml", "AUC168 ng*h/mL", lambda x: f"{x:.0f}"),
                ("t_above_4_h", "h>4 ng/mL per cycle", lambda x: f"{x:.0f}"),
                ("mtorc1_mean", "mTORC1 inhibition", lambda x: f"{100 * x:.0f} %"),
                ("mtorc2_mean", "mTORC2 assembled", lambda x: f"{100 * x:.0f} %")]


def format_individual(fit, params: pd.DataFrame, levels: pd.DataFrame, exp: pd.DataFrame,
                      verdict) -> str:
    """Plain-text report of an individual fit (see ``pkdose individual``)."""
    lev = fit.levels
    start = f", first dose {lev.clock([0.0])[0]}" if lev.origin is not None else ""
    out = [f"{fit.regimen}: model {fit.model.name}; {lev.time_h.size} measured levels{start}",
           f"posterior: MAP by L-BFGS-B, sampled by SIR (effective sample size "
           f"{fit.ess:.0f}; {len(fit.samples_z)} draws kept)", "",
           "Individual parameters vs typical for these covariates (90 % interval)"]
    cells = [["parameter", "unit", "typical", "individual", "90 % interval", "change",
              "information"]]
    for _, r in params.iterrows():
        info = "" if math.isnan(r["information_pct"]) else f"{r['information_pct']:.0f} %"
        cells.append([r["parameter"], r["unit"], _g(r["typical"]), _g(r["individual"]),
                      f"{_g(r['p5'])}-{_g(r['p95'])}", f"{r['change_pct']:+.0f} %", info])
    out += _rows(cells)
    if len(levels):
        out += ["", "Measured vs predicted whole-blood levels (ng/mL; band of the prediction)"]
        cells = [["time", "measured", "typical", "individual", "90 % band"]]
        for _, r in levels.iterrows():
            cells.append([r["time"] or f"{r['time_h']:g} h", _g(r["measured_ng_ml"]),
                          _g(r["typical_ng_ml"]), _g(r["individual_ng_ml"]),
                          f"{_g(r['p5_ng_ml'])}-{_g(r['p95_ng_ml'])}"])
        out += _rows(cells)
    basis = "steady state" if fit.regimen.is_indefinite else "first week"
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
    out += [f"  mTORC2 verdict: {verdict.label} (posterior at 96 h turnover: {probs})",
            f"  {verdict.text()}", ""]
    return "\n".join(out) + "\n"


def format_recommendation(rec: pd.DataFrame) -> str:
    """The recommended regimen and the other shortlisted candidates."""
    best = rec.iloc[0]
    metric = best["metric"]
    unit = "ng*h/mL" if metric.startswith("auc") else "ng/mL"
    name = {"ctrough_ng_ml": "Ctrough", "cmin_ng_ml": "Cmin", "cavg_ng_ml": "Cavg",
            "cmax_ng_ml": "Cmax", "auc168_ng_h_ml": "AUC168",
            "mtorc1_mean": "mTORC1 inhibition"}[metric]

    def val(x):
        if metric == "mtorc1_mean":
            return f"{100 * x:.0f} %"
        return f"{x:.0f} {unit}" if x >= 1000 else f"{_g(x)} {unit}"

    out = [f"Target {best['target']!r} (pharmacology, not a prescription)",
           f"  best: {best['regimen']}: P(target) {100 * best['probability']:.0f} %, {name} "
           f"{val(best['individual'])} (90 %: {val(best['p5'])} to {val(best['p95'])}), "
           f"mTORC2 {best['mtorc2_verdict']}"]
    extra = metric != "mtorc1_mean"
    cells = [["candidate", "P(target)", name, "90 % interval"] + ["mTORC1"] * extra
             + ["mTORC2"]]
    for _, r in rec.iloc[1:].iterrows():
        cells.append([r["regimen"], f"{100 * r['probability']:.0f} %", val(r["individual"]),
                      f"{val(r['p5'])} to {val(r['p95'])}"]
                     + [f"{100 * r['mtorc1_mean']:.0f} %"] * extra + [r["mtorc2_verdict"]])
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
        cells.append([r["option"],
                      f"{_g(r['lowest_ng_ml'])} ({_g(r['lowest_ng_ml_p5'])}-"
                      f"{_g(r['lowest_ng_ml_p95'])})",
                      f"{_g(r['highest_ng_ml'])} ({_g(r['highest_ng_ml_p5'])}-"
                      f"{_g(r['highest_ng_ml_p95'])})",
                      f"{r['auc_pct_of_on_time']:.0f} % ({r['auc_pct_p5']:.0f}-"
                      f"{r['auc_pct_p95']:.0f})"])
    return "\n".join(out + _rows(cells)) + "\n\n"


def _write(text: str, path: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise PkdoseError(f"cannot write {path}: {exc.strerror}") from None



# --- design ---------------------------------------------------------------------------------


def _population_options(n_default: int, n_help: str):
    """--n, --population, --seed, --model, --with: shared by the design commands."""

    def deco(f):
        f = click.option("--with", "with_", multiple=True, metavar="COMEDICATION",
                         help="Co-medication applied to every subject (repeatable).")(f)
        f = click.option("--model", "model_name", metavar="NAME|FILE",
                         help="Model; default: the drug's default model.")(f)
        f = click.option("--seed", type=int, default=1, show_default=True,
                         help="Same seed, same subjects.")(f)
        f = click.option("--population", "population", metavar="NAME|FILE.csv",
                         help="older-adults, transplant-adults, or a CSV of covariates; "
                              "default: the typical subject with the model's variability.")(f)
        return click.option("--n", "n", type=click.IntRange(min=1), default=n_default,
                            show_default=True, help=n_help)(f)

    return deco


def _stderr_progress(what: str):
    """About 15 lines at most on stderr, however long the run."""

    def report(done, total):
        if done == total or done % max(1, total // 14) == 0:
            click.echo(f"[{what}] {done}/{total}", err=True)

    return report


@main.group()
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
@_population_options(1000, "Virtual subjects (the same ones at every dose tried).")
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
    from pkdose.design import find_dose, parse_dose_target

    _notice()
    tgt = parse_dose_target(target, fraction)

    def progress(k, dose):
        click.echo(f"[find-dose] simulation {k}: {dose:.4g} mg", err=True)

    df = find_dose(drug, schedule, tgt, n=n, population=population, seed=seed,
                   model=model_name, with_=with_, max_tablets=max_tablets, progress=progress)
    click.echo(format_find_dose(df), nl=False)


def format_find_dose(df: pd.DataFrame) -> str:
    """Plain-text answer of find-dose: root, bracketing tablet doses, evaluations."""
    r = df.set_index("row")
    root = r.loc["root"]
    stat = root["statistic"]
    cond = root["condition"]
    want = (f"{root['fraction_target']:.0%} of subjects with {cond}" if cond else
            f"{stat} = {root['target_value']:g}")
    out = [f"target: {want} ({root['n']} subjects, seed {root['seed']}, model "
           f"{root['model']})",
           f"continuous dose: {root['dose_mg']:.4g} mg  ({stat} {root['attained']:.4g}); "
           f"95% Monte Carlo interval {root['dose_low_mg']:.3g}-{root['dose_high_mg']:.3g} mg "
           f"(bootstrap of the {root['n']} subjects)"]
    for label in ("tablet below", "tablet above"):
        row = r.loc[label]
        extra = ""
        if cond:
            extra = (f", {row['fraction_meeting']:.1%} meet {cond}"
                     f" ({'meets' if row['meets'] else 'misses'} the target)")
        out.append(f"{label}: {row['regimen']}  {stat} {row['attained']:.4g}{extra}")
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
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the comparison table to CSV.")
@_population_options(1000, "Virtual subjects per arm (different subjects in every arm).")
def design_arms(regimens, metric, power, alpha, n_trials, csv_path, n, population, seed,
                model_name, with_):
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

    _notice()
    df = compare_arms(regimens, metric, n, population, seed, model_name, with_, power, alpha,
                      n_trials, progress=_stderr_progress("arms"))
    click.echo(format_arms(df), nl=False)
    if csv_path:
        _write(df.to_csv(index=False, float_format="%.6g"), csv_path)
        click.echo(f"wrote {csv_path}", err=True)


def format_arms(df: pd.DataFrame) -> str:
    """Plain-text pairwise comparison of arms."""
    out = []
    for _, r in df.iterrows():
        n_arm = "not separable (no difference)" if not math.isfinite(r["n_per_arm"]) else (
            f"{r['n_per_arm']:.0f}")
        sim = ("not simulated" if not math.isfinite(r["power_simulated"])
               else f"{r['power_simulated']:.1%}")
        out += [f"{r['higher_arm']}  vs  {r['lower_arm']}  ({r['metric']}, {r['n']} subjects "
                f"per arm, model {r['model']})",
                f"  median {r['median_higher']:.4g} vs {r['median_lower']:.4g}; geometric mean "
                f"ratio {r['gmr']:.3f}; SD of log {r['sd_log']:.3f}",
                f"  P(higher-arm subject has the higher exposure) = {r['p_higher']:.3f} "
                f"(log-normal theory {r['p_higher_normal']:.3f})",
                f"  subjects per arm for {r['power']:.0%} power at two-sided alpha "
                f"{r['alpha']:g} (t-test on log {r['metric']}): {n_arm}",
                f"  power at that n: {r['power_t']:.1%} (noncentral t), {sim} in "
                f"{r['n_trials']} resampled trials", ""]
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
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the table of all schedules to CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True),
              help="Trade-off plot: mTORC1 engagement vs fraction mTORC2-spared.")
@_population_options(50, "Virtual subjects (the same ones for every schedule).")
def design_window(drug, mtorc1, mtorc1_fraction, spared, doses, max_mg, intervals, csv_path,
                  plot_path, n, population, seed, model_name, with_):
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
    from pkdose.plotting import plot_window

    _notice()
    dose_list = _numbers(doses, "--doses") if doses else None
    df = therapeutic_window(drug, mtorc1, spared, dose_list, _intervals(intervals), n,
                            population, seed, model_name, with_, mtorc1_fraction,
                            max_mg=max_mg, progress=_stderr_progress("window"))
    click.echo(format_window(df), nl=False)
    if csv_path:
        _write(df.to_csv(index=False, float_format="%.6g"), csv_path)
        click.echo(f"wrote {csv_path}", err=True)
    if plot_path:
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
        if not 1 <= lo <= hi:
            raise PkdoseError(f"cannot read --intervals {text!r}; write e.g. 1-14 or 1,7,14")
        return [float(d) for d in range(lo, hi + 1)]
    return _numbers(text, "--intervals")


def format_window(df: pd.DataFrame) -> str:
    """Grid of 'mTORC1 %/spared %' per dose and interval, then feasible set and front."""
    a = df.attrs
    cells = {(r.dose_mg, r.interval_days): f"{_pct(r.mtorc1_median)}/{_pct(r.spared_fraction)}"
             + ("*" if r.feasible else " ") for r in df.itertuples()}
    doses = sorted(df["dose_mg"].unique())
    days = sorted(df["interval_days"].unique())
    head = ["dose \\ every"] + [f"{d:g}d" for d in days]
    rows = [head] + [[f"{d:g} mg"] + [cells[(d, k)] for k in days] for d in doses]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    rule = (f"median mTORC1 inhibition >= {a['mtorc1']:.0%}" if a.get("mtorc1_fraction") is None
            else f"{a['mtorc1_fraction']:.0%} of subjects with mTORC1 inhibition >= "
                 f"{a['mtorc1']:.0%}")
    out = [f"{df['n'].iloc[0]} subjects ({a['population']}, seed {df['seed'].iloc[0]}, model "
           f"{df['model'].iloc[0]}); cell = median mTORC1 inhibition % / subjects mTORC2-spared"
           " %; * = feasible"]
    out += ["  ".join(r[i].rjust(widths[i]) for i in range(len(r))) for r in rows]
    feas = df[df["feasible"]].sort_values("weekly_dose_mg")
    out.append(f"\nfeasible ({rule} and >= {a['spared']:.0%} mTORC2-spared): "
               + (f"{len(feas)} schedule{'s' if len(feas) > 1 else ''}" if len(feas)
                  else "none"))
    for r in feas.itertuples():
        out.append(f"  {r.regimen}: mTORC1 {_pct(r.mtorc1_median)} %, spared "
                   f"{_pct(r.spared_fraction)} %, median trough {r.ctrough_median_ng_ml:.2g} "
                   "ng/mL")
    front = df[df["pareto"]].sort_values("mtorc1_median")
    out.append("Pareto front (no schedule engages mTORC1 more and spares mTORC2 as often): "
               + "; ".join(f"{r.regimen} ({_pct(r.mtorc1_median)}/{_pct(r.spared_fraction)})"
                           for r in front.itertuples()))
    out.append("mTORC2 sparing judged per subject at a 96 h turnover half-life (a research "
               "hypothesis; docs/mtorc2.md)")
    return "\n".join(out) + "\n"
_SPECIES_CHOICES = click.Choice(["mouse", "dog", "marmoset"])


def _animal_subject(weight, sex, food) -> dict:
    subj: dict[str, object] = {}
    for key, val in (("weight_kg", weight), ("sex", sex), ("food_g_day", food)):
        if val is not None:
            subj[key] = val
    return subj


def format_translation(first: pd.DataFrame, rows: pd.DataFrame, match: str,
                       reverse: bool, spread: pd.DataFrame | None = None) -> str:
    """The given regimen's exposure, the matches ranked, and what a match means."""
    from pkdose.translate import CAVEATS, MATCH_METRICS

    column, label, unit = MATCH_METRICS[match]
    f = first.iloc[0]
    who = "human" if reverse else f"{f['species']} ({f['model']})"
    lines = [f"{f['regimen_given'] if 'regimen_given' in f else f['regimen']} in {who}, "
             f"{f['basis']}: Cavg {f['cavg_ng_ml']:.3g} ng/mL, Cmax {f['cmax_ng_ml']:.3g}, "
             f"Cmin {f['cmin_ng_ml']:.3g}, mTORC1 {_pct(f['mtorc1_mean'])} %, "
             f"mTORC2 {f['mtorc2_verdict']}"]
    if spread is not None and len(spread):
        lo = spread[["metric_low", "metric_high"]].min(axis=None)
        hi = spread[["metric_low", "metric_high"]].max(axis=None)
        width = (spread["metric_high"] - spread["metric_low"]).abs()
        widest = spread.loc[width.idxmax(), "parameter"]
        lines.append(f"{label} over the {f['model']} model's parameter ranges (one at a time): "
                     f"{lo:.3g}-{hi:.3g} {unit}, widest for {widest}")
    lines.append("")
    if reverse:
        lines.append(f"Published lifespan regimens closest on {label} (ratio = human / "
                     "animal):")
        shown = rows[["name", "sex", "regimen", "delta_median_pct", column, "ratio",
                      "predicted"]].copy()
        shown.columns = ["study", "sex", "regimen", "Δ median %", label, "ratio",
                         "predicted"]
    else:
        lines.append(f"Human regimens on tablet doses matching {label} = "
                     f"{float(f[column]):.3g} {unit} (ratio = human / animal):")
        shown = rows[["regimen", "human", "ratio", "cavg_ng_ml", "cmax_ng_ml", "cmin_ng_ml",
                      "mtorc1_mean", "mtorc2_verdict", "in_fitted_range"]].copy()
        shown["mtorc1_mean"] = shown["mtorc1_mean"].map(_pct)
        shown.columns = ["regimen", f"human {label}", "ratio", "Cavg", "Cmax", "Cmin",
                         "mTORC1 %", "mTORC2 verdict", "dose fitted"]
        same = {"cavg_ng_ml": "Cavg", "mtorc1_mean": "mTORC1 %", "cmin_ng_ml": "Cmin"}
        if column in same:
            shown = shown.drop(columns=[same[column]])
        limit = rows["at_tablet_limit"].to_numpy(bool)
        shown["regimen"] = [r + (" *" if at else "") for r, at in zip(shown["regimen"], limit,
                                                                       strict=True)]
    lines.append(shown.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    if not reverse and rows["at_tablet_limit"].any():
        lines.append("* smallest or largest tablet dose (up to 8 tablets): no closer match on "
                     "this schedule")
    lines += ["", "Caveats:"] + [f"- {c}" for c in CAVEATS]
    return "\n".join(lines)


@main.command()
@click.argument("regimen")
@click.option("--species", type=_SPECIES_CHOICES, default="mouse", show_default=True,
              help="Species of the animal regimen (ignored with --from human).")
@click.option("--from", "from_", type=click.Choice(["animal", "human"]), default="animal",
              show_default=True, help="'human': find the published animal regimens "
                                      "closest to a human REGIMEN instead.")
@click.option("--to", "to", type=click.Choice(["human", "mouse", "dog", "marmoset"]),
              default=None, help="Target: human (default) or, with --from human, the "
                                 "species of the lifespan library (default mouse).")
@click.option("--match", type=click.Choice(["cavg", "auc168", "trough", "mtorc1"]),
              default="cavg", show_default=True, help="Exposure metric to match.")
@click.option("--weight", type=float, help="Animal body weight (kg); default the model's.")
@click.option("--sex", type=click.Choice(["male", "female"]), help="Animal sex.")
@click.option("--food", type=float, help="Animal food intake (g/day) for ppm diets; "
                                         "default from pkdose/data/food_intake.toml.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the ranked rows to a CSV file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True),
              help="Save the lifespan figure (mouse lifespan studies against the --match "
                   "metric, human ageing trials as bands, REGIMEN as a dashed line).")
def translate(regimen, species, from_, to, match, weight, sex, food, csv_path, plot_path):
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
    from pkdose import translate as tr

    _notice()
    if from_ == "human":
        target = to or "mouse"
        if target == "human":
            raise PkdoseError("--from human needs an animal species in --to, e.g. --to mouse")
        first, rows = tr.to_animal(regimen, target, match)
    else:
        if to not in (None, "human"):
            raise PkdoseError("an animal regimen translates --to human; to go from human to "
                              "an animal, give --from human")
        subj = _animal_subject(weight, sex, food) or None
        first, rows = tr.translate(regimen, species, match, subjects=subj)
        spread = tr.animal_range(regimen, species, match, subjects=subj)
    click.echo(format_translation(first, rows, match, from_ == "human",
                                  None if from_ == "human" else spread))
    if plot_path:
        from pkdose.plotting import plot_lifespan

        column, label, unit = tr.MATCH_METRICS[match]
        lib = rows if from_ == "human" else tr.lifespan_exposure("mouse", match)
        f = first.iloc[0]
        plot_lifespan(lib, tr.human_bands(match), plot_path, metric=column,
                      metric_label=f"predicted {label} ({unit})",
                      mark=(str(f.get("regimen_given", f["regimen"])), float(f[column])))
        click.echo(f"wrote {plot_path}", err=True)
    if csv_path:
        _write(rows.to_csv(index=False, float_format="%.6g"), csv_path)
        click.echo(f"wrote {csv_path}", err=True)
