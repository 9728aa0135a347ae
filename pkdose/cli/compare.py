"""pkdose compare: exposure metrics of several regimens side by side, and their place among
the reference regimens (--against)."""

from __future__ import annotations

import json

import click

from pkdose import NOTICE, __version__
from pkdose.cli.lazy import np, pd
from pkdose.cli.options import (
    model_options,
    parse_bands,
    parse_duration,
    parse_params,
    parse_window,
    plot_options,
    subject_from_options,
)
from pkdose.cli.output import notice, pct, write

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
    ("mtorc1_mean", "mTORC1 %", pct),
    ("mtorc2_mean", "mTORC2 %", pct),
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


@click.command()
@click.argument("regimens", nargs=-1, required=True)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="Write all metrics (one row per regimen) to CSV.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True),
              help="Write all metrics to JSON.")
@plot_options("Overlay the curves in one figure (PNG/SVG/PDF).")
@click.option("--until", metavar="DURATION", help="Plot horizon, default 4 weeks.")
@click.option("--window", metavar="START-END",
              help="Summarise this window after the first dose instead (e.g. 0-1w, 5w-6w).")
@click.option("--against", metavar="GROUPS",
              help="Place the regimens among reference regimens: transplant, oncology, tsc, "
                   "lam, ageing, all (comma-separated).")
@click.option("--species", type=click.Choice(["mouse", "dog", "marmoset"]),
              help="Compare animal regimens with the species' default model; default human.")
@model_options
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
    from pkdose.simulate import load_regimens
    from pkdose.simulate import simulate as sim

    notice()
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
        write(out.to_csv(index=False, float_format="%.10g"), csv_path)
        click.echo(f"wrote {csv_path}", err=True)
    if json_path:
        payload = {"notice": NOTICE, "pkdose_version": __version__,
                   "rows": json.loads(out.to_json(orient="records", double_precision=8))}
        if placed is not None:
            for key in ("ratios", "nearest", "targets"):
                payload[key] = json.loads(placed[key].to_json(orient="records",
                                                              double_precision=8))
        write(json.dumps(payload, indent=2) + "\n", json_path)
        click.echo(f"wrote {json_path}", err=True)
    if plot_path:
        from pkdose.pd import curve_pd
        from pkdose.plotting import plot_curves

        horizon = parse_duration(until, "--until") if until else 4 * 168.0
        # Fine enough to draw the ~0.7 h everolimus peaks; bounded for long horizons.
        step = min(0.1, horizon / 4000.0)
        curves = []
        for reg, (_, row) in zip(regs, df.iterrows(), strict=True):
            model = row["model"]
            curves.append((f"{reg}  [{model}]",
                           sim(reg, model, subj, until_h=horizon, step_h=step, params=params,
                               with_=with_)))
        pdc = [curve_pd(reg.drug, c) for reg, (_, c) in zip(regs, curves, strict=True)] \
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
