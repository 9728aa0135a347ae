"""Figures a clinician can read at a glance: overlaid whole-blood curves with units."""

from __future__ import annotations

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
    fig.text(0.01, 0.005, NOTICE, fontsize=6.5, color="0.4", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
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
