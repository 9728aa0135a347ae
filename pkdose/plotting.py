"""Figures a clinician can read at a glance: overlaid whole-blood curves with units."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; pkdose never opens windows
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from pkdose import NOTICE  # noqa: E402
from pkdose.errors import PkdoseError  # noqa: E402

#: Lowest concentration a log axis shows (ng/mL), drawn as a dashed "assay limit" line.
#: pkdose's data cite no assay limit, so this is a convention, not a measured LLOQ:
#: published whole-blood methods for sirolimus quantify down to about 0.2-2 ng/mL (the
#: methods tabulated in Zhao et al., Front Pharmacol 2022;13:925018, Table 1; routine
#: LC-MS/MS monitoring of sirolimus and everolimus commonly 0.5-1 ng/mL), and 0.1 ng/mL sits
#: below all of them, so nothing a laboratory could report is cut off. Predictions below it
#: (the 1e-15 ng/mL tail of a weekly dose, the first minutes after a dose) are clipped at
#: the axis.
ASSAY_LIMIT_NG_ML = 0.1

#: Line colours: matplotlib's ten (the default order, so up to ten curves look as before),
#: then ten darker or warmer ones that stay apart from them on white.
CURVE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                 "#393b79", "#b35806", "#1b7837", "#843c39", "#762a83", "#000000",
                 "#c51b7d", "#8c6d31", "#01665e", "#4d9221")
#: Line styles, taken in turn once the colours are used up: 20 x 3 = 60 distinct lines.
CURVE_STYLES = ("-", (0, (5, 2)), (0, (1, 1.5)))
#: Target-range bands (Dark2): fills and edges in a colour per range, named in the legend.
BAND_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
                "#a6761d", "#666666")

_WIDE = 11.4        # inches: 1368 px at 120 dpi, the report page's width
_NARROW = 9.0
_LEGEND_PT = 8.0    # legend font size (pt); 7 for long keys
_NOTICE_PT = 6.5
_WEEK_H = 168.0


def curve_style(i: int) -> tuple[str, str | tuple]:
    """Colour and line style of the ``i``-th curve; unique for the first 60 curves."""
    n = len(CURVE_COLOURS)
    return CURVE_COLOURS[i % n], CURVE_STYLES[(i // n) % len(CURVE_STYLES)]


def _time_axis(t_h: np.ndarray) -> tuple[np.ndarray, str]:
    span = float(np.max(t_h)) if len(t_h) else 0.0
    if span > 21 * 24:
        return t_h / 168.0, "time (weeks)"
    if span > 72:
        return t_h / 24.0, "time (days)"
    return t_h, "time (h)"


def _x_end(frames: Sequence[pd.DataFrame]) -> float | None:
    """Right end of a time axis: the longest course, in the units :func:`_time_axis` picks
    for it (``None``, matplotlib's choice, when there is no time at all)."""
    ends = [float(np.max(_time_axis(df["time_h"].to_numpy(float))[0])) for df in frames
            if len(df)]
    return max(ends) if ends and max(ends) > 0 else None


def merge_bands(bands: Sequence[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """One band per distinct range, its label the range in ng/mL and the names sharing it.

    A label that already ends in its own range (``"zortress-kidney 3-8"``, ``"3-8 ng/mL"``)
    loses that ending, so the range is written once: ``"3-8 ng/mL: kovarik2003-certican,
    zortress-kidney"``. Bands are returned highest first, as they stack on the axis.
    """
    names: dict[tuple[float, float], list[str]] = {}
    for label, lo, hi in bands:
        lo, hi = float(lo), float(hi)
        key = (round(lo, 9), round(hi, 9))
        text = str(label).strip()
        for tail in (f"{lo:g}-{hi:g} ng/mL", f"{lo:g}-{hi:g}"):
            if text.endswith(tail):
                text = text[: -len(tail)].strip(" :,")
                break
        got = names.setdefault(key, [])
        if text and text not in got:
            got.append(text)
    out = []
    for (lo, hi), who in sorted(names.items(), key=lambda kv: (-kv[0][1], -kv[0][0])):
        text = f"{lo:g}-{hi:g} ng/mL" + (f": {', '.join(who)}" if who else "")
        out.append(("\n   ".join(textwrap.wrap(text, 64)), lo, hi))
    return out


def _draw_bands(axes, bands) -> list:
    """Shade each merged band on every axes; legend handles (the labels live there only,
    so they can never sit on top of each other or of a curve)."""
    handles = []
    for j, (label, lo, hi) in enumerate(merge_bands(bands)):
        rgb = matplotlib.colors.to_rgb(BAND_COLOURS[j % len(BAND_COLOURS)])
        for a in axes:
            a.axhspan(lo, hi, facecolor=(*rgb, 0.10), edgecolor=(*rgb, 0.75), lw=0.8,
                      zorder=0.5)
        handles.append(Patch(facecolor=(*rgb, 0.22), edgecolor=rgb, lw=0.8, label=label))
    return handles


def _positive(y) -> np.ndarray:
    y = np.asarray(y, float)
    return np.where(y > 0, y, np.nan)


def _log_axis(axes, values: Sequence[np.ndarray], floor: float) -> list:
    """Log concentration axis from ``floor`` up: plain-number ticks, a dashed line at the
    floor labelled in the right margin, and its legend handle."""
    finite = [v[np.isfinite(v) & (v > 0)] for v in values]
    top = max((float(v.max()) for v in finite if v.size), default=floor)
    top = max(top * 1.6, floor * 10)
    for a in axes:
        a.set_yscale("log")
        a.axhline(floor, color="0.25", lw=0.9, ls=(0, (4, 3)), zorder=1.5)
    axes[0].set_ylim(floor, top)  # shared y: one call sets every panel
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    axes[0].yaxis.set_major_formatter(fmt)
    # Named in the right margin, just above the line, clear of the time-axis labels.
    axes[-1].annotate("assay\nlimit", xy=(1, floor), xycoords=("axes fraction", "data"),
                      xytext=(4, 2), textcoords="offset points", ha="left", va="bottom",
                      fontsize=6.5, color="0.25", annotation_clip=False)
    return [Line2D([], [], color="0.25", lw=0.9, ls=(0, (4, 3)),
                   label=f"assay limit {floor:g} ng/mL (lower not drawn)")]


def _steady_week(frames: Sequence[pd.DataFrame], column: str = "conc_ng_ml",
                 tolerance: float = 0.05) -> tuple[tuple[float, float], bool] | None:
    """The course's last week, if some curve is still dosed then, and whether every such
    curve repeats the week before (peak and trough within ``tolerance`` of the peak).

    ``None`` when the course is shorter than two weeks or no curve goes on (its last-week
    peak under half the week before's: a regimen that stopped)."""
    end = max((float(df["time_h"].max()) for df in frames if len(df)), default=0.0)
    if end < 2 * _WEEK_H - 1e-9:
        return None
    going, steady = 0, True
    for df in frames:
        t, y = df["time_h"].to_numpy(float), df[column].to_numpy(float)
        last = y[(t >= end - _WEEK_H) & (t <= end)]
        prev = y[(t >= end - 2 * _WEEK_H) & (t <= end - _WEEK_H)]
        if not last.size or not prev.size or not np.nanmax(prev) > 0:
            continue
        hi1, hi0 = np.nanmax(last), np.nanmax(prev)
        if hi1 < 0.5 * hi0:
            continue
        going += 1
        scale = max(hi1, hi0)
        # Peak and trough, not the mean: a week need not hold whole dosing intervals
        # (every 48 h puts four doses in one week and three in the next).
        steady &= bool(abs(hi1 - hi0) <= tolerance * scale
                       and abs(np.nanmin(last) - np.nanmin(prev)) <= tolerance * scale)
    if not going:
        return None
    return (end - _WEEK_H, end), steady


def _legend_below(fig, handles: list, fontsize: float = _LEGEND_PT) -> float:
    """One legend under the panels, as many columns as the widest entry allows, just above
    the research-use notice; the figure grows by the legend's height so the panels keep
    theirs. Returns the figure fraction the panels must keep above (legend and notice)."""
    if not handles:
        return _foot(fig)
    renderer = fig.canvas.get_renderer()
    prop = matplotlib.font_manager.FontProperties(size=fontsize)
    widths = [max(renderer.get_text_width_height_descent(line, prop, ismath=False)[0]
                  for line in h.get_label().split("\n")) for h in handles]
    ncol = _columns(widths, (3.0 + 0.8 + 2.0) * fontsize * fig.dpi / 72.0,
                    fig.get_figwidth() * fig.dpi * 0.96)
    leg = fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=fontsize,
                     frameon=False, handlelength=3.0, columnspacing=2.0, borderaxespad=0.2)
    height = leg.get_window_extent(renderer).height / fig.dpi
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + height)
    leg.set_bbox_to_anchor((0.5, _foot(fig)), transform=fig.transFigure)
    return _foot(fig) + height / fig.get_figheight()


def _columns(widths: Sequence[float], extra: float, room: float) -> int:
    """Most legend columns whose widths, each its widest entry plus ``extra`` (handle,
    padding, gap), add up to at most ``room``. Entries go down the columns, the first
    ``len % ncol`` columns one longer, as matplotlib's legend lays them out."""
    best = 1
    for ncol in range(2, len(widths) + 1):
        rows, large = divmod(len(widths), ncol)
        sizes = [rows + 1] * large + [rows] * (ncol - large)
        starts = np.cumsum([0, *sizes])
        if sum(max(widths[i:j]) + extra for i, j in zip(starts[:-1], starts[1:],
                                                           strict=True)) > room:
            break
        best = ncol
    return best


def _foot(fig) -> float:
    """Figure fraction kept for the research-use notice's line."""
    return (_NOTICE_PT * 2.0 / 72) / fig.get_figheight()


def _decorate(fig, bottom: float | None = None) -> None:
    """Research-use notice at the foot; the panels are laid out above ``bottom`` (figure
    fraction, default the notice's line)."""
    fig.text(0.01, 0.005, NOTICE, fontsize=_NOTICE_PT, color="0.4", ha="left", va="bottom")
    fig.tight_layout(rect=(0, _foot(fig) if bottom is None else bottom, 1, 1), w_pad=2.0)


def _write(fig, path: str, metadata: dict[str, str | None] | None) -> str:
    """Save and close."""
    try:
        fig.savefig(path, metadata=metadata)
    except (OSError, ValueError) as exc:
        raise PkdoseError(f"cannot write plot {path}: {exc}") from None
    finally:
        plt.close(fig)
    return path


def _save(fig, path: str, metadata: dict[str, str | None] | None, bottom: float = 0.03) -> str:
    """Research-use notice, layout above ``bottom`` (figure fraction), save, close."""
    _decorate(fig, bottom)
    return _write(fig, path, metadata)



def _turnover(pd_curves) -> str:
    """The mTORC2 turnover half-life(s) the PD panel was drawn at (one per species)."""
    halves = sorted({pdf.attrs.get("t_half_m2_h") for pdf in pd_curves} - {None})
    return " / ".join(f"{h:g} h" for h in halves) or "n/a"

def _panels(pd_rows: bool, week: bool, many: bool):
    """Figure and axes: concentration (and mTOR) rows; a one-week column when ``week``."""
    width = _WIDE if (week or many) else _NARROW
    height = 7.6 if pd_rows else 5.2
    fig = plt.figure(figsize=(width, height), dpi=120)
    rows, cols = (2 if pd_rows else 1), (2 if week else 1)
    gs = fig.add_gridspec(rows, cols, height_ratios=[3, 2] if pd_rows else None,
                          width_ratios=[2.6, 1] if week else None)
    ax = fig.add_subplot(gs[0, 0])
    ax_pd = fig.add_subplot(gs[1, 0], sharex=ax) if pd_rows else None
    wk = fig.add_subplot(gs[0, 1], sharey=ax) if week else None
    wk_pd = fig.add_subplot(gs[1, 1], sharex=wk, sharey=ax_pd) if (week and pd_rows) else None
    return fig, ax, ax_pd, wk, wk_pd


def curves_figure(curves: Sequence[tuple[str, pd.DataFrame]], log: bool = False,
                  bands: Sequence[tuple[str, float, float]] = (), title: str | None = None,
                  plasma: bool = False, pd_curves: Sequence[pd.DataFrame] | None = None,
                  thin: Sequence[pd.DataFrame] = (), week: bool = True,
                  floor: float = ASSAY_LIMIT_NG_ML):
    """The figure :func:`plot_curves` saves (a matplotlib Figure, laid out when drawn)."""
    if not curves:
        raise PkdoseError("nothing to plot")
    frames = [df for _, df in curves]
    span = _steady_week(frames) if week else None
    many = len(curves) > 12
    fig, ax, ax_pd, wk, wk_pd = _panels(bool(pd_curves), span is not None, many)
    conc_axes = [a for a in (ax, wk) if a is not None]
    lw = 1.1 if many else 1.6
    handles: list = []
    drawn: list[np.ndarray] = []

    def show(a, x, y, **kw):
        y = np.asarray(y, float)
        drawn.append(y)
        return a.plot(x, _positive(y) if log else y, **kw)[0]

    def week_x(df):
        t = df["time_h"].to_numpy(float)
        keep = (t >= span[0][0] - 1e-9) & (t <= span[0][1] + 1e-9)
        return keep, t[keep] / 24.0

    for j, df in enumerate(thin):
        x, _ = _time_axis(df["time_h"].to_numpy())
        h = show(ax, x, df["conc_ng_ml"], color="0.55", lw=0.6, alpha=0.6, zorder=1,
                 label="reference regimens")
        if j == 0:
            handles.append(h)
        if wk is not None:
            keep, xw = week_x(df)
            show(wk, xw, df["conc_ng_ml"].to_numpy()[keep], color="0.55", lw=0.6, alpha=0.6,
                 zorder=1)
    xlabel = "time (h)"
    banded = False
    for i, (label, df) in enumerate(curves):
        x, xlabel = _time_axis(df["time_h"].to_numpy())
        colour, style = curve_style(i)
        y = df["conc_ng_ml"].to_numpy(float)
        below = log and np.nanmax(y, initial=0.0) < floor
        h = show(ax, x, y, color=colour, ls=style, lw=lw,
                 label=f"{label} (below {floor:g} ng/mL throughout)" if below else label)
        handles.append(h)
        if "conc_p5_ng_ml" in df:
            # The population's 5-95 % band under the typical curve, in its colour.
            lo, hi = (df[c].to_numpy(float) for c in ("conc_p5_ng_ml", "conc_p95_ng_ml"))
            drawn.append(hi)
            for a, keep, xa in ((ax, slice(None), x), *([(wk, *week_x(df))] if wk else [])):
                a.fill_between(xa, *(_positive(v[keep]) if log else v[keep] for v in (lo, hi)),
                               color=colour, alpha=0.15, lw=0, zorder=0)
            if not banded:
                banded = True
                handles.append(Patch(color="0.5", alpha=0.3,
                                     label="shaded: 5-95 % of the virtual population"))
        extra = [("conc_ng_ml", style, lw)]
        if plasma and "plasma_ng_ml" in df:
            handles.append(show(ax, x, df["plasma_ng_ml"], color=colour, lw=1.0, ls="--",
                                label=f"{label} (plasma)"))
            extra.append(("plasma_ng_ml", "--", 1.0))
        if wk is not None:
            keep, xw = week_x(df)
            for col, ls, width in extra:
                show(wk, xw, df[col].to_numpy()[keep], color=colour, ls=ls, lw=width)
    handles += _draw_bands(conc_axes, bands)
    if log:
        handles += _log_axis(conc_axes, drawn, floor)
    else:
        ax.set_ylim(bottom=0)
    ax.set_ylabel("whole-blood concentration (ng/mL)")
    ax.set_xlim(0, _x_end(frames))
    for a in (ax, wk, ax_pd, wk_pd):
        if a is not None:
            a.grid(alpha=0.3)
    if ax_pd is not None:
        for i, pdf in enumerate(pd_curves):
            colour, _ = curve_style(i)
            x, _ = _time_axis(pdf["time_h"].to_numpy())
            ax_pd.plot(x, 100 * pdf["mtorc1_inhibition"], color=colour, lw=1.2)
            ax_pd.plot(x, 100 * pdf["mtorc2_fraction"], color=colour, lw=1.6, ls="--")
            if wk_pd is not None:
                keep, xw = week_x(pdf)
                wk_pd.plot(xw, 100 * pdf["mtorc1_inhibition"].to_numpy()[keep], color=colour,
                           lw=1.2)
                wk_pd.plot(xw, 100 * pdf["mtorc2_fraction"].to_numpy()[keep], color=colour,
                           lw=1.6, ls="--")
        for a in (ax_pd, wk_pd):
            if a is not None:
                for level in (70, 80):
                    a.axhline(level, color="0.5", lw=0.8, ls=":")
        ax_pd.set_ylim(0, 100)
        ax_pd.set_ylabel("mTOR (%)")
        handles += [Line2D([], [], color="0.3", lw=1.2, label="mTORC1 inhibition"),
                    Line2D([], [], color="0.3", lw=1.6, ls="--",
                           label=f"assembled mTORC2, turnover t1/2 {_turnover(pd_curves)} "
                                 "(70/80 % lines)")]
    (ax_pd if ax_pd is not None else ax).set_xlabel(xlabel)
    if ax_pd is not None:
        ax.tick_params(labelbottom=False)
    if span is not None:
        (lo, hi), steady = span
        wk.set_xlim(lo / 24.0, hi / 24.0)
        wk.xaxis.set_major_locator(matplotlib.ticker.MultipleLocator(1))
        wk.tick_params(labelleft=False)
        wk.set_title(f"days {lo / 24:g}-{hi / 24:g}"
                     + (": steady state" if steady else " (not yet at steady state)"),
                     fontsize=9)
        bottom = wk_pd if wk_pd is not None else wk
        bottom.set_xlabel("time (days)")
        if wk_pd is not None:
            wk.tick_params(labelbottom=False)
            wk_pd.tick_params(labelleft=False)
    fig.suptitle(title or "Predicted whole-blood concentration", fontsize=11)
    if many and not plasma:
        # Keys first, then the curves: with one key (the assay limit) before them the
        # legend's columns of 21, 20 and 20 rows each hold one line style.
        k = 1 if len(thin) else 0  # the one "reference regimens" entry comes first
        handles = handles[:k] + handles[k + len(curves):] + handles[k:k + len(curves)]
    _decorate(fig, _legend_below(fig, handles, fontsize=7.0 if many else _LEGEND_PT))
    return fig


def groups_figure(groups: Sequence[tuple[str, Sequence[tuple[str, pd.DataFrame]]]],
                  title: str, floor: float = ASSAY_LIMIT_NG_ML):
    """Curves in one log-scale panel per group (e.g. species and drug), each panel with
    its own legend on its right: a figure that stays legible for dozens of regimens, where
    one panel of every curve does not.

    Parameters
    ----------
    groups : sequence of (panel title, sequence of (label, DataFrame with time_h and
        conc_ng_ml))
    title : the figure's title
    floor : lowest concentration shown (default :data:`ASSAY_LIMIT_NG_ML`)
    """
    groups = [(name, list(curves)) for name, curves in groups if curves]
    if not groups:
        raise PkdoseError("nothing to plot")
    # Legend columns of at most 18 entries; a panel is as tall as its legend needs.
    ncols = [-(-len(c) // 18) for _, c in groups]
    heights = [max(2.2, 0.16 * -(-len(c) // n) + 0.9) for (_, c), n in zip(groups, ncols,
                                                                              strict=True)]
    fig = plt.figure(figsize=(_WIDE, sum(heights) + 0.6), dpi=120)
    gs = fig.add_gridspec(len(groups), 1, height_ratios=heights)
    end = _x_end([df for _, c in groups for _, df in c])
    for k, (name, curves) in enumerate(groups):
        ax = fig.add_subplot(gs[k, 0])
        drawn, handles = [], []
        xlabel = "time (h)"
        for i, (label, df) in enumerate(curves):
            x, xlabel = _time_axis(df["time_h"].to_numpy())
            y = df["conc_ng_ml"].to_numpy(float)
            drawn.append(y)
            colour, style = curve_style(i)
            below = np.nanmax(y, initial=0.0) < floor
            handles.append(ax.plot(x, _positive(y), color=colour, ls=style, lw=1.1,
                                   label=f"{label} (below {floor:g} throughout)" if below
                                   else label)[0])
        handles = _log_axis([ax], drawn, floor) + handles
        ax.set_xlim(0, end)
        ax.grid(alpha=0.3)
        ax.set_title(f"{name} ({len(curves)})", fontsize=9, loc="left")
        ax.set_ylabel("ng/mL")
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.04, 1.0),
                  ncol=ncols[k], fontsize=6.5, frameon=False, handlelength=2.5,
                  borderaxespad=0.0)
        if k == len(groups) - 1:
            ax.set_xlabel(xlabel)
    fig.suptitle(title, fontsize=11)
    _decorate(fig)
    return fig


def plot_curves(curves: Sequence[tuple[str, pd.DataFrame]], path: str, log: bool = False,
                bands: Sequence[tuple[str, float, float]] = (), title: str | None = None,
                plasma: bool = False, pd_curves: Sequence[pd.DataFrame] | None = None,
                thin: Sequence[pd.DataFrame] = (), week: bool = True,
                floor: float = ASSAY_LIMIT_NG_ML,
                metadata: dict[str, str | None] | None = None) -> str:
    """Overlay concentration-time curves and save to ``path`` (PNG, SVG or PDF).

    Parameters
    ----------
    curves : sequence of (label, DataFrame with time_h and conc_ng_ml)
        Up to 60 curves get distinct colour and line-style pairs (:func:`curve_style`).
    log : log concentration axis from ``floor`` up (useful for troughs of weekly regimens)
    bands : (label, low, high) reference ranges drawn as shaded horizontal bands; ranges
        given more than once are merged (:func:`merge_bands`) and named in the legend
    plasma : also draw plasma concentrations (dashed) where present
    pd_curves : one DataFrame per curve with time_h, mtorc1_inhibition and mtorc2_fraction,
        drawn in a second panel on the same time axis
    thin : reference curves drawn as thin grey lines behind the others
    week : add a panel with the course's last week next to the full course, where the
        course spans two weeks or more and some regimen is still dosed in its last week;
        its title says whether the week repeats the one before (steady state)
    floor : lowest concentration a log axis shows (default :data:`ASSAY_LIMIT_NG_ML`)
    metadata : passed to ``savefig``; ``{"Software": None}`` drops the matplotlib version
        from a PNG so the file depends only on the picture

    The legend sits under the panels, in as many columns as fit, and the figure grows
    to hold it.
    """
    fig = curves_figure(curves, log=log, bands=bands, title=title, plasma=plasma,
                        pd_curves=pd_curves, thin=thin, week=week, floor=floor)
    return _write(fig, path, metadata)


def fan_figure(fans: Sequence[tuple[str, pd.DataFrame]], log: bool = False,
               title: str | None = None, floor: float = ASSAY_LIMIT_NG_ML):
    """The figure :func:`plot_fan` saves."""
    if not fans:
        raise PkdoseError("nothing to plot")
    fig = plt.figure(figsize=(_NARROW, 5.2), dpi=120)
    ax = fig.add_subplot()
    xlabel = "time (h)"
    handles, drawn = [], []
    for i, (label, df) in enumerate(fans):
        x, xlabel = _time_axis(df["time_h"].to_numpy())
        colour, style = curve_style(i)

        def y(col, df=df):
            v = df[col].to_numpy(float)
            drawn.append(v)
            return _positive(v) if log else v

        ax.fill_between(x, y("p5"), y("p95"), color=colour, alpha=0.15, lw=0)
        ax.fill_between(x, y("p25"), y("p75"), color=colour, alpha=0.3, lw=0)
        handles += ax.plot(x, y("p50"), color=colour, ls=style, lw=1.6,
                           label=f"{label} (median)")
    handles.append(Patch(color="0.5", alpha=0.3, lw=0, label="50 % of subjects (p25-p75)"))
    handles.append(Patch(color="0.5", alpha=0.15, lw=0, label="90 % of subjects (p5-p95)"))
    if log:
        handles += _log_axis([ax], drawn, floor)
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(0, _x_end([df for _, df in fans]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("whole-blood concentration (ng/mL)")
    ax.grid(alpha=0.3)
    fig.suptitle(title or "Predicted whole-blood concentration across virtual subjects",
                 fontsize=11)
    _decorate(fig, _legend_below(fig, handles))
    return fig


def plot_fan(fans: Sequence[tuple[str, pd.DataFrame]], path: str, log: bool = False,
             title: str | None = None, metadata: dict[str, str | None] | None = None,
             floor: float = ASSAY_LIMIT_NG_ML) -> str:
    """Fan chart per arm: median line, 50 % (p25-p75) and 90 % (p5-p95) bands.

    ``fans``: (label, DataFrame with time_h, p5, p25, p50, p75, p95) as returned by
    :func:`pkdose.population.simulate_population`. A log axis starts at ``floor``.
    """
    return _write(fan_figure(fans, log=log, title=title, floor=floor), path, metadata)


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
    has_x = points[metric].notna()
    shown = points[has_x & points["delta_median_pct"].notna()]
    # Studies with a dose but no number for the change in lifespan: drawn on a strip at the
    # bottom, so every study with a predicted exposure is on the figure.
    no_number = points[has_x & points["delta_median_pct"].isna()].drop_duplicates("name")
    if shown.empty and no_number.empty:
        raise PkdoseError("no lifespan result with a predicted exposure to plot")
    fig, ax = plt.subplots(figsize=(12, 6.5), dpi=130)
    drawn = points[has_x]
    lo = min(float(drawn[metric].min()), float(bands["low"].min()) if len(bands) else np.inf,
             mark[1] if mark else np.inf)
    hi = max(float(drawn[metric].max()), float(bands["high"].max()) if len(bands) else 0.0,
             mark[1] if mark else 0.0)
    top = float(shown["delta_median_pct"].max()) if len(shown) else 0.0
    ymax = top + 3 + 1.9 * bands["label"].nunique()
    ymin = min(-2.0, float(shown["delta_median_pct"].min()) - 2 if len(shown) else 0.0)
    strip_y = ymin - 2.0
    if len(no_number):
        ymin = strip_y - 2.0
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

    def study_label(r) -> str:
        combined = getattr(r, "combined_with", "")
        return r.name.split("/")[0] + (" (combination)" if isinstance(combined, str)
                                       and combined else "")

    for r in shown.itertuples():
        ax.annotate(study_label(r), (getattr(r, metric), r.delta_median_pct),
                    xytext=(4, 2), textcoords="offset points", fontsize=6, color="0.35")
    if len(no_number):
        ax.axhspan(ymin, strip_y + 1.2, color="0.92", lw=0, zorder=0)
        ax.scatter(no_number[metric], [strip_y] * len(no_number), marker="D", s=30,
                   facecolors="0.6", edgecolors="k", linewidths=0.4, zorder=3)
        for k, r in enumerate(no_number.itertuples()):
            ax.annotate(study_label(r), (getattr(r, metric), strip_y),
                        xytext=(4, 3 if k % 2 else -7), textcoords="offset points",
                        fontsize=6, color="0.35")
    if mark:
        ax.axvline(mark[1], color="k", ls="--", lw=1.2, zorder=2)
        ax.text(mark[1], 0.5, f" {mark[0]}", fontsize=7.5, ha="left", va="bottom",
                rotation=90, zorder=4)
    if metric.startswith("mtorc"):  # a fraction: linear axis
        ax.set_xlim(max(0.0, lo - 0.05), min(1.0, hi + 0.05))
    else:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.6, hi * 1.6)
    ax.set_ylim(ymin, ymax)
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
    if len(no_number):
        handles += [plt.Line2D([], [], ls="", marker="D", color="0.3", mfc="0.6",
                               label="lifespan effect reported without a number\n"
                                     "(grey strip, not on the y scale)")]
    handles += [plt.Rectangle((0, 0), 1, 1, color="#239b56", alpha=0.3,
                              label="human sirolimus ageing-trial regimens (arm range)"),
                plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="#7d3c98",
                              hatch="///", label="human everolimus (its own blood level)")]
    ax.legend(handles=handles, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              framealpha=0.92)
    left_out = points[~has_x].drop_duplicates("name")
    if len(left_out):
        why = [f"no {r.route} model" for r in left_out.itertuples()]
        fig.text(0.01, 0.03, "Not drawn: " + "; ".join(
            f"{r.name} ({w})" for r, w in zip(left_out.itertuples(), why, strict=True)),
            fontsize=6.5, color="0.3")
    species = sorted(set(points.get("species", pd.Series(["mouse"]))))
    default_title = (f"{species[0].capitalize()} lifespan studies" if len(species) == 1
                     else "Animal lifespan studies") + " against predicted blood exposure"
    ax.set_title(title or default_title,
                 fontsize=11)
    return _save(fig, path, metadata, bottom=0.05)


def plot_individual(curve: pd.DataFrame, levels: pd.DataFrame, path: str, log: bool = False,
                    title: str | None = None, options: pd.DataFrame | None = None,
                    bands: Sequence[tuple[str, float, float]] = (),
                    metadata: dict[str, str | None] | None = None,
                    floor: float = ASSAY_LIMIT_NG_ML) -> str:
    """One person's fitted curve: MAP line, 90 % band, typical curve and measured levels.

    ``curve``: time_h, conc_ng_ml, p5, p95, typical_ng_ml (:func:`pkdose.individual.curve`);
    ``levels``: time_h, measured_ng_ml; ``options``: time_h and one column per missed-dose
    option (:func:`pkdose.individual.dose_options`), drawn over the same time axis. A log
    axis starts at ``floor``; bands are merged and named in the legend.
    """
    fig = plt.figure(figsize=(_NARROW, 5.2), dpi=120)
    ax = fig.add_subplot()
    t = curve["time_h"].to_numpy()
    if options is not None:
        t = np.concatenate([t, options["time_h"].to_numpy()])
    scale = _time_axis(t)[0][-1] / t[-1] if t[-1] > 0 else 1.0
    xlabel = _time_axis(t)[1]
    drawn: list[np.ndarray] = []

    def y(v):
        v = np.asarray(v, float)
        drawn.append(v)
        return _positive(v) if log else v

    x = curve["time_h"].to_numpy() * scale
    handles = [ax.fill_between(x, y(curve["p5"]), y(curve["p95"]), color="C0", alpha=0.2,
                               lw=0, label="90 % band (posterior)")]
    handles += ax.plot(x, y(curve["typical_ng_ml"]), color="0.5", lw=1.0, ls="--",
                       label="typical subject (model)")
    handles += ax.plot(x, y(curve["conc_ng_ml"]), color="C0", lw=1.6, label="this person (MAP)")
    if options is not None:
        for i, col in enumerate(c for c in options.columns if c not in ("time_h", "time")):
            colour, style = curve_style(i + 1)
            handles += ax.plot(options["time_h"] * scale, y(options[col]), color=colour,
                               ls=style, lw=1.1, label=col)
    handles += ax.plot(levels["time_h"] * scale, y(levels["measured_ng_ml"]), "o", color="k",
                       ms=5, label="measured", zorder=5)
    handles += _draw_bands([ax], bands)
    if log:
        handles += _log_axis([ax], drawn, floor)
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(0, float(np.max(t)) * scale or None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("whole-blood concentration (ng/mL)")
    ax.grid(alpha=0.3)
    fig.suptitle(title or "Individual fit to measured levels", fontsize=11)
    _decorate(fig, _legend_below(fig, handles))
    return _write(fig, path, metadata)
