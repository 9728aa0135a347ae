"""Figures are written, and say what they leave out."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pkdose.errors import PkdoseError
from pkdose.plotting import plot_lifespan

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
