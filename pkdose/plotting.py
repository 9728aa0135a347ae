"""Figures a clinician can read at a glance: overlaid whole-blood curves with units."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; pkdose never opens windows
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pkdose import NOTICE  # noqa: E402
from pkdose.errors import PkdoseError  # noqa: E402


def _time_axis(t_h: np.ndarray) -> tuple[np.ndarray, str]:
    span = float(np.max(t_h)) if len(t_h) else 0.0
    if span > 21 * 24:
        return t_h / 168.0, "time (weeks)"
    if span > 72:
        return t_h / 24.0, "time (days)"
    return t_h, "time (h)"


def _finish(fig, ax, path: str, log: bool, title: str,
            metadata: dict[str, str | None] | None) -> str:
    """Concentration-axis styling, title, research-use notice, save, close."""
    ax.set_ylabel("whole-blood concentration (ng/mL)")
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    ax.set_title(title, fontsize=11)
    return _save(fig, path, metadata)


def _save(fig, path: str, metadata: dict[str, str | None] | None, bottom: float = 0.03) -> str:
    """Research-use notice, layout above ``bottom`` (figure fraction), save, close."""
    fig.text(0.01, 0.005, NOTICE, fontsize=6.5, color="0.4", ha="left", va="bottom")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    try:
        fig.savefig(path, metadata=metadata)
    except (OSError, ValueError) as exc:
        raise PkdoseError(f"cannot write plot {path}: {exc}") from None
    finally:
        plt.close(fig)
    return path


def plot_curves(curves: Sequence[tuple[str, pd.DataFrame]], path: str, log: bool = False,
                bands: Sequence[tuple[str, float, float]] = (), title: str | None = None,
                plasma: bool = False, pd_curves: Sequence[pd.DataFrame] | None = None,
                thin: Sequence[pd.DataFrame] = (),
                metadata: dict[str, str | None] | None = None) -> str:
    """Overlay concentration-time curves and save to ``path`` (PNG, SVG or PDF).

    Parameters
    ----------
    curves : sequence of (label, DataFrame with time_h and conc_ng_ml)
    log : log concentration axis (useful for troughs of weekly regimens)
    bands : (label, low, high) reference ranges drawn as shaded horizontal bands
    plasma : also draw plasma concentrations (dashed) where present
    pd_curves : one DataFrame per curve with time_h, mtorc1_inhibition and mtorc2_fraction,
        drawn in a second panel on the same time axis
    thin : reference curves drawn as thin grey lines behind the others
    metadata : passed to ``savefig``; ``{"Software": None}`` drops the matplotlib version
        from a PNG so the file depends only on the picture
    """
    if not curves:
        raise PkdoseError("nothing to plot")
    if pd_curves:
        fig, (ax, ax_pd) = plt.subplots(2, 1, figsize=(9, 7.6), dpi=120, sharex=True,
                                        gridspec_kw={"height_ratios": [3, 2]})
    else:
        fig, ax = plt.subplots(figsize=(9, 5.2), dpi=120)
        ax_pd = None
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, df in enumerate(thin):
        x, _ = _time_axis(df["time_h"].to_numpy())
        y = df["conc_ng_ml"].to_numpy()
        ax.plot(x, np.where(y > 0, y, np.nan) if log else y, color="0.55", lw=0.6, alpha=0.6,
                label="reference regimens" if j == 0 else None, zorder=1)
    for i, (label, df) in enumerate(curves):
        x, xlabel = _time_axis(df["time_h"].to_numpy())
        colour = colours[i % len(colours)]
        y = df["conc_ng_ml"].to_numpy()
        ax.plot(x, np.where(y > 0, y, np.nan) if log else y, color=colour, lw=1.6, label=label)
        if plasma and "plasma_ng_ml" in df:
            yp = df["plasma_ng_ml"].to_numpy()
            ax.plot(x, np.where(yp > 0, yp, np.nan) if log else yp, color=colour, lw=1.0,
                    ls="--", label=f"{label} (plasma)")
    for j, (label, lo, hi) in enumerate(bands):
        ax.axhspan(lo, hi, color="0.5", alpha=0.12 + 0.05 * (j % 2), lw=0)
        ax.text(0.005, hi, f" {label}", transform=ax.get_yaxis_transform(), ha="left",
                va="bottom", fontsize=8, color="0.3")
    if ax_pd is not None:
        for i, pdf in enumerate(pd_curves):
            x, _ = _time_axis(pdf["time_h"].to_numpy())
            colour = colours[i % len(colours)]
            ax_pd.plot(x, 100 * pdf["mtorc1_inhibition"], color=colour, lw=1.2)
            ax_pd.plot(x, 100 * pdf["mtorc2_fraction"], color=colour, lw=1.6, ls="--")
        for level in (70, 80):
            ax_pd.axhline(level, color="0.5", lw=0.8, ls=":")
        ax_pd.set_ylim(0, 100)
        ax_pd.set_ylabel("%")
        ax_pd.grid(alpha=0.3)
        ax_pd.plot([], [], color="0.3", lw=1.2, label="mTORC1 inhibition")
        ax_pd.plot([], [], color="0.3", lw=1.6, ls="--",
                   label="assembled mTORC2, turnover t1/2 96 h (70/80 % lines)")
        ax_pd.legend(fontsize=8, loc="lower right", framealpha=0.9)
        ax_pd.set_xlabel(xlabel)
    else:
        ax.set_xlabel(xlabel)
    return _finish(fig, ax, path, log, title or "Predicted whole-blood concentration",
                   metadata)


def plot_fan(fans: Sequence[tuple[str, pd.DataFrame]], path: str, log: bool = False,
             title: str | None = None, metadata: dict[str, str | None] | None = None) -> str:
    """Fan chart per arm: median line, 50 % (p25-p75) and 90 % (p5-p95) bands.

    ``fans``: (label, DataFrame with time_h, p5, p25, p50, p75, p95) as returned by
    :func:`pkdose.population.simulate_population`.
    """
    if not fans:
        raise PkdoseError("nothing to plot")
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    xlabel = "time (h)"
    for i, (label, df) in enumerate(fans):
        x, xlabel = _time_axis(df["time_h"].to_numpy())
        colour = colours[i % len(colours)]

        def y(col, df=df):
            v = df[col].to_numpy(float)
            return np.where(v > 0, v, np.nan) if log else v

        ax.fill_between(x, y("p5"), y("p95"), color=colour, alpha=0.15, lw=0)
        ax.fill_between(x, y("p25"), y("p75"), color=colour, alpha=0.3, lw=0)
        ax.plot(x, y("p50"), color=colour, lw=1.6, label=f"{label} (median)")
    ax.fill_between([], [], [], color="0.5", alpha=0.3, label="50 % of subjects (p25-p75)")
    ax.fill_between([], [], [], color="0.5", alpha=0.15, label="90 % of subjects (p5-p95)")
    ax.set_xlabel(xlabel)
    return _finish(fig, ax, path, log,
                   title or "Predicted whole-blood concentration across virtual subjects",
                   metadata)


def plot_window(table: pd.DataFrame, path: str, title: str | None = None,
                metadata: dict[str, str | None] | None = None) -> str:
    """Trade-off of mTORC1 engagement against mTORC2 sparing, one point per schedule.

    ``table``: :func:`pkdose.design.therapeutic_window` output (its ``attrs`` hold the
    thresholds). Points are coloured by dosing interval; the feasible region is shaded and
    the Pareto front drawn and labelled.
    """
    if table.empty:
        raise PkdoseError("nothing to plot")
    x = 100 * table["mtorc1_median"].to_numpy(float)
    y = 100 * table["spared_fraction"].to_numpy(float)
    days = table["interval_days"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(9.5, 6.4), dpi=120)
    x1, y1 = 100 * table.attrs.get("mtorc1", 0.5), 100 * table.attrs.get("spared", 0.8)
    ax.axvspan(x1, 102, ymin=(y1 + 3) / 106, ymax=1, color="tab:green", alpha=0.08, lw=0)
    ax.axvline(x1, color="tab:green", lw=0.8, ls="--")
    ax.axhline(y1, color="tab:green", lw=0.8, ls="--")
    ax.text(101, 102, "feasible", color="tab:green", ha="right", va="top", fontsize=9)
    levels = np.unique(days)
    cmap = plt.get_cmap("viridis", max(len(levels), 2))
    norm = matplotlib.colors.BoundaryNorm(np.append(levels, levels[-1] + 1) - 0.5, cmap.N) \
        if len(levels) > 1 else None
    size = 18 + 5 * table["dose_mg"].to_numpy(float)
    sc = ax.scatter(x, y, c=days, cmap=cmap, norm=norm, s=size, edgecolor="none",
                    alpha=0.85, zorder=3)
    feasible = table["feasible"].to_numpy(bool)
    ax.scatter(x[feasible], y[feasible], s=size[feasible] + 40, facecolor="none",
               edgecolor="black", linewidth=1.0, zorder=4, label="feasible schedule")
    if len(levels) > 1:
        bar = fig.colorbar(sc, ax=ax, ticks=levels, pad=0.02)
        bar.set_label("dosing interval (days)")
    front = table[table["pareto"]].sort_values("mtorc1_median")
    fx, fy = 100 * front["mtorc1_median"].to_numpy(), 100 * front["spared_fraction"].to_numpy()
    ax.step(fx, fy, where="post", color="tab:red", lw=1.3, zorder=2, label="Pareto front")
    # Label front points that are feasible, and the others where they do not crowd.
    last = (-1e9, -1e9)
    for r in front.itertuples():
        px, py = 100 * r.mtorc1_median, 100 * r.spared_fraction
        if not r.feasible and math.hypot(px - last[0], py - last[1]) < 9:
            continue
        when = "daily" if r.interval_days == 1 else f"every {r.interval_days:g} d"
        right = px > 85  # keep labels near the right edge inside the axes
        ax.annotate(f"{r.dose_mg:g} mg {when}", (px, py), xytext=(-7 if right else 7, 3),
                    textcoords="offset points", fontsize=7.5, ha="right" if right else "left",
                    color="black" if r.feasible else "tab:red", zorder=5,
                    fontweight="bold" if r.feasible else "normal")
        last = (px, py)
    for r in table[table["feasible"] & ~table["pareto"]].itertuples():
        when = "daily" if r.interval_days == 1 else f"every {r.interval_days:g} d"
        ax.annotate(f"{r.dose_mg:g} mg {when}", (100 * r.mtorc1_median,
                                                 100 * r.spared_fraction),
                    xytext=(7, -10), textcoords="offset points", fontsize=7.5, zorder=5)
    ax.scatter([], [], s=23, color="0.5", label="marker size: dose")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("mTORC1 engagement: median time-averaged inhibition (%)")
    ax.set_ylabel("subjects mTORC2-spared (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", framealpha=0.9)
    n = table["n"].iloc[0] if "n" in table else ""
    ax.set_title(title or f"Dose x interval: mTORC1 engagement vs mTORC2 sparing "
                 f"({n} subjects, {table['model'].iloc[0]})", fontsize=11)
    return _save(fig, path, metadata)


#: Marker per route and colour per sex in the lifespan figure.
_ROUTE_MARKERS = {"diet": "o", "ip": "^", "sc": "s", "oral": "D"}
_SEX_COLOURS = {"female": "#c0392b", "male": "#2471a3", "mixed": "0.4"}


def plot_lifespan(points: pd.DataFrame, bands: pd.DataFrame, path: str,
                  metric: str = "cavg_ng_ml", metric_label: str = "predicted Cavg (ng/mL)",
                  title: str | None = None, mark: tuple[str, float] | None = None,
                  metadata: dict[str, str | None] | None = None) -> str:
    """Animal lifespan results against predicted exposure, human regimens as bands.

    Parameters
    ----------
    points : DataFrame
        One row per study arm and sex (:func:`pkdose.translation.lifespan_exposure`):
        ``name``, ``sex``, ``route``, ``delta_median_pct``, ``significant`` and ``metric``.
        Rows without a number on either axis are listed under the plot, not drawn.
    bands : DataFrame
        Human regimens: ``label``, ``drug``, ``low``, ``high`` on the same metric (a band
        from the lowest to the highest arm; one arm draws a line).
    mark : (label, value), optional
        A regimen of the user's, drawn as a dashed vertical line.
    """
    shown = points[points[metric].notna() & points["delta_median_pct"].notna()]
    if shown.empty:
        raise PkdoseError("no lifespan result with a predicted exposure to plot")
    fig, ax = plt.subplots(figsize=(12, 6.5), dpi=130)
    lo = min(float(shown[metric].min()), float(bands["low"].min()) if len(bands) else np.inf,
             mark[1] if mark else np.inf)
    hi = max(float(shown[metric].max()), float(bands["high"].max()) if len(bands) else 0.0,
             mark[1] if mark else 0.0)
    ymax = float(shown["delta_median_pct"].max()) + 3 + 1.9 * bands["label"].nunique()
    # Trials at the same exposure share one band and one label.
    keyed = bands.assign(low=bands["low"].round(6), high=bands["high"].round(6))
    merged = (keyed.groupby(["drug", "low", "high"], sort=False)["label"]
              .agg(", ".join).reset_index()) if len(bands) else bands
    for i, b in enumerate(merged.itertuples()):
        evero = b.drug == "everolimus"
        colour = "#7d3c98" if evero else "#239b56"
        width = max(b.high / b.low, 1.03)  # a single arm still shows as a thin band
        centre = (b.low * b.high) ** 0.5
        span = (centre / width ** 0.5, centre * width ** 0.5)
        if evero:  # another molecule: outlined, so the sirolimus bands stay readable
            ax.axvspan(*span, facecolor="none", edgecolor=colour, hatch="///", alpha=0.25,
                       lw=0.6, zorder=0)
        else:
            ax.axvspan(*span, color=colour, alpha=0.18, lw=0, zorder=0)
        ax.text(centre, ymax - 0.6 - 1.9 * i, b.label,
                fontsize=6, color=colour, ha="center", va="top", zorder=4,
                bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=0.5))
    for (sex, route), grp in shown.groupby(["sex", "route"]):
        sig = grp["significant"].fillna(True).astype(bool)
        colour = _SEX_COLOURS.get(sex, "0.4")
        marker = _ROUTE_MARKERS.get(route, "x")
        ax.scatter(grp.loc[sig, metric], grp.loc[sig, "delta_median_pct"], c=colour,
                   marker=marker, s=46, edgecolors="k", linewidths=0.4, zorder=3)
        ax.scatter(grp.loc[~sig, metric], grp.loc[~sig, "delta_median_pct"], facecolors="none",
                   edgecolors=colour, marker=marker, s=46, linewidths=1.1, zorder=3)
    for r in shown.itertuples():
        ax.annotate(r.name.split("/")[0], (getattr(r, metric), r.delta_median_pct),
                    xytext=(4, 2), textcoords="offset points", fontsize=6, color="0.35")
    if mark:
        ax.axvline(mark[1], color="k", ls="--", lw=1.2, zorder=2)
        ax.text(mark[1], 0.5, f" {mark[0]}", fontsize=7.5, ha="left", va="bottom",
                rotation=90, zorder=4)
    if metric.startswith("mtorc"):  # a fraction: linear axis
        ax.set_xlim(max(0.0, lo - 0.05), min(1.0, hi + 0.05))
    else:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.6, hi * 1.6)
    ax.set_ylim(min(-2.0, float(shown["delta_median_pct"].min()) - 2), ymax)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel(metric_label)
    ax.set_ylabel("change in median lifespan (%)")
    ax.grid(alpha=0.3, which="both")
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=s)
               for s, c in _SEX_COLOURS.items() if s in set(shown["sex"])]
    handles += [plt.Line2D([], [], ls="", marker=m, color="0.3", mfc="0.7", label=r)
                for r, m in _ROUTE_MARKERS.items() if r in set(shown["route"])]
    handles += [plt.Line2D([], [], ls="", marker="o", mfc="none", mec="0.3",
                           label="not significant")]
    handles += [plt.Rectangle((0, 0), 1, 1, color="#239b56", alpha=0.3,
                              label="human sirolimus ageing-trial regimens (arm range)"),
                plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="#7d3c98",
                              hatch="///", label="human everolimus (its own blood level)")]
    ax.legend(handles=handles, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              framealpha=0.92)
    left_out = points[~points.index.isin(shown.index)].drop_duplicates("name")
    if len(left_out):
        why = ["no change in median given" if pd.isna(r.delta_median_pct)
               else f"no {r.route} model" for r in left_out.itertuples()]
        fig.text(0.01, 0.03, "Not drawn: " + "; ".join(
            f"{r.name} ({w})" for r, w in zip(left_out.itertuples(), why, strict=True)),
            fontsize=6.5, color="0.3")
    ax.set_title(title or "Mouse lifespan studies against predicted blood exposure",
                 fontsize=11)
    return _save(fig, path, metadata, bottom=0.05)


def plot_individual(curve: pd.DataFrame, levels: pd.DataFrame, path: str, log: bool = False,
                    title: str | None = None, options: pd.DataFrame | None = None,
                    bands: Sequence[tuple[str, float, float]] = (),
                    metadata: dict[str, str | None] | None = None) -> str:
    """One person's fitted curve: MAP line, 90 % band, typical curve and measured levels.

    ``curve``: time_h, conc_ng_ml, p5, p95, typical_ng_ml (:func:`pkdose.individual.curve`);
    ``levels``: time_h, measured_ng_ml; ``options``: time_h and one column per missed-dose
    option (:func:`pkdose.individual.dose_options`), drawn over the same time axis.
    """
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=120)
    t = curve["time_h"].to_numpy()
    if options is not None:
        t = np.concatenate([t, options["time_h"].to_numpy()])
    scale = _time_axis(t)[0][-1] / t[-1] if t[-1] > 0 else 1.0
    xlabel = _time_axis(t)[1]

    def y(v):
        v = np.asarray(v, float)
        return np.where(v > 0, v, np.nan) if log else v

    x = curve["time_h"].to_numpy() * scale
    ax.fill_between(x, y(curve["p5"]), y(curve["p95"]), color="C0", alpha=0.2, lw=0,
                    label="90 % band (posterior)")
    ax.plot(x, y(curve["typical_ng_ml"]), color="0.5", lw=1.0, ls="--",
            label="typical subject (model)")
    ax.plot(x, y(curve["conc_ng_ml"]), color="C0", lw=1.6, label="this person (MAP)")
    if options is not None:
        for i, col in enumerate(c for c in options.columns if c not in ("time_h", "time")):
            ax.plot(options["time_h"] * scale, y(options[col]), color=f"C{i + 1}", lw=1.1,
                    label=col)
    ax.plot(levels["time_h"] * scale, y(levels["measured_ng_ml"]), "o", color="k", ms=5,
            label="measured", zorder=5)
    for j, (label, lo, hi) in enumerate(bands):
        ax.axhspan(lo, hi, color="0.5", alpha=0.12 + 0.05 * (j % 2), lw=0)
        ax.text(0.005, hi, f" {label}", transform=ax.get_yaxis_transform(), ha="left",
                va="bottom", fontsize=8, color="0.3")
    ax.set_xlabel(xlabel)
    return _finish(fig, ax, path, log, title or "Individual fit to measured levels", metadata)
