"""Figures are written, say what they leave out, and hold their floor and labels."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from pkdose import NOTICE
from pkdose.errors import PkdoseError
from pkdose.plotting import (
    ASSAY_LIMIT_NG_ML,
    curve_style,
    curves_figure,
    fan_figure,
    groups_figure,
    merge_bands,
    plot_curves,
    plot_lifespan,
)

POINTS = pd.DataFrame({
    "name": ["a2020", "a2020", "b2021", "c2022"],
    "sex": ["male", "female", "female", "mixed"],
    "route": ["diet", "diet", "ip", "sc"],
    "delta_median_pct": [10.0, 15.0, 4.0, math.nan],
    "significant": [True, True, False, True],
    "cavg_ng_ml": [4.0, 4.0, 2.0, math.nan],
})
BANDS = pd.DataFrame({"label": ["trial-x", "trial-y"], "drug": ["sirolimus", "everolimus"],
                      "low": [1.7, 1.2], "high": [3.3, 6.4]})


def test_lifespan_figure_is_written_as_png(tmp_path):
    out = plot_lifespan(POINTS, BANDS, str(tmp_path / "f.png"), metadata={"Software": None})
    data = (tmp_path / "f.png").read_bytes()
    assert out.endswith("f.png") and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_lifespan_figure_without_a_drawable_point_is_an_error(tmp_path):
    with pytest.raises(PkdoseError, match="nothing|no lifespan result"):
        plot_lifespan(POINTS.iloc[[3]], BANDS, str(tmp_path / "f.png"))


def test_a_study_with_a_dose_but_no_number_is_still_drawn(tmp_path):
    """An exposure without a lifespan number goes on the bottom strip, not off the figure."""
    only = POINTS.iloc[[3]].assign(cavg_ng_ml=5.0, combined_with="metformin")
    out = plot_lifespan(only, BANDS, str(tmp_path / "f.png"), metadata={"Software": None})
    assert (tmp_path / "f.png").stat().st_size > 10_000 and out.endswith("f.png")


# --------------------------------------------------------------------------- curves figures

def _weekly(scale: float = 1.0, weeks: int = 4, stop_after: float | None = None) -> pd.DataFrame:
    """A made-up weekly regimen: a peak of 30 x scale ng/mL each week, falling 100-fold
    (or more: to 1e-18 once dosing stops at ``stop_after`` hours)."""
    t = np.arange(0.0, weeks * 168.0 + 0.25, 0.5)
    since = np.mod(t, 168.0)
    c = 30.0 * scale * np.exp(-since * np.log(100) / 168.0)
    if stop_after is not None:
        late = t > stop_after
        c[late] = c[~late][-1] * np.exp(-(t[late] - stop_after) * 0.3)
    c[0] = 0.0
    return pd.DataFrame({"time_h": t, "conc_ng_ml": c})


def _boxes(texts) -> list:
    return [t.get_window_extent() for t in texts if t.get_text()]


def _overlapping(boxes) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if boxes[i].overlaps(boxes[j])]


def test_log_axis_stops_at_the_assay_limit_for_a_weekly_regimen():
    from pkdose.simulation import as_regimen, simulate

    weekly = simulate(as_regimen("everolimus 5 mg weekly"), until_h=4 * 168.0, step_h=0.5)
    trough = weekly.loc[weekly["time_h"] > 24, "conc_ng_ml"].min()
    assert 0 < trough < ASSAY_LIMIT_NG_ML  # the trough falls below the floor ...
    fig = curves_figure([("everolimus 5 mg weekly", weekly)], log=True)
    fig.canvas.draw()
    for ax in fig.axes:  # ... and every panel's axis stops there, not at 1e-18
        assert ax.get_yscale() == "log"
        assert ax.get_ylim()[0] == pytest.approx(ASSAY_LIMIT_NG_ML)
        floor_lines = [ln for ln in ax.get_lines()
                       if np.allclose(ln.get_ydata(), ASSAY_LIMIT_NG_ML)
                       and ln.get_linestyle() != "-"]
        assert floor_lines, "the assay limit is drawn as a dashed line"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(lab.startswith(f"assay limit {ASSAY_LIMIT_NG_ML:g} ng/mL") for lab in labels)
    plt.close(fig)


def test_log_fan_chart_stops_at_the_assay_limit():
    df = _weekly(scale=0.05)
    fan = pd.DataFrame({"time_h": df["time_h"], "p5": df["conc_ng_ml"] * 0.2,
                        "p25": df["conc_ng_ml"] * 0.6, "p50": df["conc_ng_ml"],
                        "p75": df["conc_ng_ml"] * 1.5, "p95": df["conc_ng_ml"] * 3})
    fig = fan_figure([("arm", fan)], log=True)
    fig.canvas.draw()
    assert fig.axes[0].get_ylim()[0] == pytest.approx(ASSAY_LIMIT_NG_ML)
    plt.close(fig)


def test_a_curve_entirely_below_the_floor_says_so_and_the_axis_still_has_a_range():
    fig = curves_figure([("topical", _weekly(scale=1e-4))], log=True)
    fig.canvas.draw()
    lo, hi = fig.axes[0].get_ylim()
    assert lo == pytest.approx(ASSAY_LIMIT_NG_ML) and hi >= 10 * ASSAY_LIMIT_NG_ML
    assert any("below 0.1 ng/mL throughout" in t.get_text() for t in fig.legends[0].get_texts())
    plt.close(fig)


TARGET_BANDS = [("rapamune-kidney-cni-withdrawal 16-24", 16.0, 24.0),
         ("rapamune-kidney-cni-withdrawal 12-20", 12.0, 20.0),
         ("rapamune-kidney-csa 6-12", 6.0, 12.0),
         ("kovarik2003-certican 3-8", 3.0, 8.0), ("zortress-kidney 3-8", 3.0, 8.0),
         ("zortress-liver 3-8", 3.0, 8.0), ("3-8 ng/mL", 3.0, 8.0), ("rapamune-lam 5-15", 5, 15)]


def test_identical_ranges_are_one_band_with_the_range_written_once():
    merged = merge_bands(TARGET_BANDS)
    assert [(lo, hi) for _, lo, hi in merged] == [(16, 24), (12, 20), (5, 15), (6, 12), (3, 8)]
    assert merged[-1][0] == "3-8 ng/mL: kovarik2003-certican, zortress-kidney, zortress-liver"
    assert merged[0][0] == "16-24 ng/mL: rapamune-kidney-cni-withdrawal"


@pytest.mark.parametrize("log", [False, True])
def test_band_labels_never_overlap(log):
    fig = curves_figure([("sirolimus 2 mg daily  [wu2012]", _weekly(0.5)),
                         ("everolimus 5 mg weekly  [terheine2018]", _weekly(1.0))],
                        bands=TARGET_BANDS, log=log, pd_curves=None)
    fig.canvas.draw()
    legend = fig.legends[0]
    band_texts = [t for t in legend.get_texts() if " ng/mL" in t.get_text()
                  and not t.get_text().startswith("assay")]
    assert len(band_texts) == len(merge_bands(TARGET_BANDS))
    in_axes = [t for ax in fig.axes for t in ax.texts]
    assert not any("ng/mL" in t.get_text() for t in in_axes)  # none printed on the bands
    # No two texts of the figure (legend entries, titles, notes) overlap one another.
    boxes = _boxes(legend.get_texts()) + _boxes(fig.texts) + _boxes(in_axes) + _boxes(
        [t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)])
    assert _overlapping(boxes) == []
    plt.close(fig)


def test_sixty_curves_have_distinct_colour_and_style():
    styles = [curve_style(i) for i in range(60)]
    assert len({(c, str(s)) for c, s in styles}) == 60
    tab10 = [to_hex(c) for c in plt.get_cmap("tab10").colors]
    assert [curve_style(i)[0] for i in range(10)] == tab10  # up to ten curves look as before


def test_legend_of_sixty_curves_stays_inside_the_figure_and_off_the_axes():
    curves = [(f"planned-ageing-trials-sirolimus-siro-{i}mg-weekly-arm-{i:02d}",
               _weekly(scale=1 + i / 10)) for i in range(60)]
    fig = curves_figure(curves, log=True, title="All regimens", week=False)
    fig.canvas.draw()
    drawn = [ln for ln in fig.axes[0].get_lines() if ln.get_label() in dict(curves)]
    assert len(drawn) == 60
    assert [ln.get_color() for ln in drawn] == [curve_style(i)[0] for i in range(60)]
    (legend,) = fig.legends
    box, page = legend.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    assert len([t for t in legend.get_texts() if t.get_text() in dict(curves)]) == 60
    axes_box = fig.axes[0].get_tightbbox()  # the panel with its tick and axis labels
    assert not axes_box.overlaps(box)
    notice = [t for t in fig.texts if t.get_text() == NOTICE][0].get_window_extent()
    assert not notice.overlaps(box)
    assert _overlapping(_boxes(legend.get_texts())) == []
    plt.close(fig)


def test_a_steady_state_week_is_shown_beside_a_course_that_goes_on():
    fig = curves_figure([("weekly", _weekly())])
    assert len(fig.axes) == 2
    week = fig.axes[1]
    assert week.get_xlim() == pytest.approx((21, 28)) and "steady state" in week.get_title()
    plt.close(fig)
    fig = curves_figure([("weekly", _weekly())], pd_curves=[pd.DataFrame(
        {"time_h": _weekly()["time_h"], "mtorc1_inhibition": 0.5, "mtorc2_fraction": 0.9})])
    assert len(fig.axes) == 4  # course and week, for concentration and mTOR
    plt.close(fig)


@pytest.mark.parametrize("df", [_weekly(stop_after=200.0), _weekly(weeks=1)])
def test_no_week_panel_for_a_regimen_that_stopped_or_a_short_course(df):
    fig = curves_figure([("stopped", df)])
    assert len(fig.axes) == 1
    plt.close(fig)


def test_curve_figures_are_byte_for_byte_repeatable(tmp_path):
    args = dict(bands=TARGET_BANDS, log=True, metadata={"Software": None})
    curves = [("a", _weekly()), ("b", _weekly(0.3))]
    plot_curves(curves, str(tmp_path / "1.png"), **args)
    plot_curves(curves, str(tmp_path / "2.png"), **args)
    assert (tmp_path / "1.png").read_bytes() == (tmp_path / "2.png").read_bytes()


def test_an_animal_regimen_gets_no_human_target_bands(tmp_path):
    from click.testing import CliRunner

    from pkdose.cli import main
    from pkdose.comparison import compare, parse_against, place
    from pkdose.simulation import as_regimen

    table = compare([as_regimen("sirolimus 14 ppm diet")], species="mouse")
    assert place(table, parse_against("transplant,ageing")).bands() == []
    png = tmp_path / "m.png"
    res = CliRunner().invoke(main, ["compare", "sirolimus 14 ppm diet", "--species", "mouse",
                                    "--against", "transplant", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_groups_get_one_panel_each_with_a_legend_inside_the_figure():
    groups = [("human sirolimus", [(f"h{i}", _weekly(scale=1 + i)) for i in range(3)]),
              ("mouse sirolimus", [(f"m{i}", _weekly(scale=1 + i / 5)) for i in range(40)]),
              ("dog sirolimus", [("d0", _weekly())])]
    fig = groups_figure(groups, title="All regimens")
    fig.canvas.draw()
    assert len(fig.axes) == 3
    page = fig.bbox
    for ax, (name, curves) in zip(fig.axes, groups, strict=True):
        assert ax.get_title(loc="left") == f"{name} ({len(curves)})"
        assert ax.get_ylim()[0] == pytest.approx(ASSAY_LIMIT_NG_ML)
        legend = ax.get_legend()
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels[1:] == [label for label, _ in curves]  # after the assay-limit key
        box = legend.get_window_extent()
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 <= page.y1
        assert not ax.get_window_extent().overlaps(box)
        assert _overlapping(_boxes(legend.get_texts())) == []
    plt.close(fig)
