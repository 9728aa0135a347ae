"""Variability everywhere: compare and report give, beside each typical row, the 5-95 %
interval of every metric over a virtual population and the share of it per verdict.

The interval must be exactly the percentiles of the per-subject metrics of ``pkdose
population`` for the same population, seed and model (the same subjects), and text, CSV,
JSON and figures must carry it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pkdose.cli import main
from pkdose.comparison import compare
from pkdose.errors import PkdoseError
from pkdose.population import curve_band, simulate_curves, simulate_population
from pkdose.results import P5, P95, POPULATION_LEGEND, TEXT_METRICS, VERDICT_LABELS

pytestmark = pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")

REGIMEN = "sirolimus 6 mg weekly"
COLUMNS = ("cmax_ng_ml", "ctrough_ng_ml", "cavg_ng_ml", "auc168_ng_h_ml", "mtorc1_mean",
           "mtorc2_mean")


@pytest.fixture(scope="module")
def table():
    return compare([REGIMEN, "everolimus 5 mg weekly"], metrics=TEXT_METRICS,
                   population="older-adults", n=64, seed=3, spread=False).frame


def test_interval_is_the_percentiles_of_the_population_commands_subjects(table):
    metrics, _ = simulate_population(REGIMEN, 64, "older-adults", seed=3, fan=False)
    row = table.iloc[0]
    for col in COLUMNS:
        lo, hi = np.percentile(metrics[col].to_numpy(float), (5, 95))
        # The same subjects and the same engine: equal to rounding of the percentile.
        assert row[col + P5] == pytest.approx(lo, rel=1e-12), col
        assert row[col + P95] == pytest.approx(hi, rel=1e-12), col
    for v in VERDICT_LABELS:
        assert row[f"mtorc2_{v}_fraction"] == pytest.approx(
            float(np.mean(metrics["mtorc2_verdict"] == v)), abs=1e-12)
    assert row["population"] == "older-adults" and row["population_n"] == 64


def test_interval_columns_sit_after_their_metric_and_shares_sum_to_one(table):
    cols = list(table.columns)
    for col in COLUMNS:
        assert cols[cols.index(col) + 1: cols.index(col) + 3] == [col + P5, col + P95]
        assert (table[col + P5] <= table[col + P95]).all()
    shares = table[[f"mtorc2_{v}_fraction" for v in VERDICT_LABELS]].sum(axis=1)
    assert np.allclose(shares, 1.0)


def test_text_shows_the_interval_row_and_its_legend(table):
    from pkdose.results import ExposureTable

    text = ExposureTable(table).to_text()
    assert text.count("5-95 % of 64 (older-adults)") == 2
    assert POPULATION_LEGEND in text
    assert "% spared" in text


def test_n_alone_is_the_typical_subject_with_the_models_variability():
    t = compare([REGIMEN], metrics=["Ctrough"], n=32, spread=False).frame.iloc[0]
    assert t["population"] == "typical subject" and t["population_n"] == 32
    assert t["ctrough_ng_ml" + P5] < t["ctrough_ng_ml"] < t["ctrough_ng_ml" + P95]


def test_without_population_there_are_no_population_columns():
    t = compare([REGIMEN], metrics=["Ctrough"], spread=False).frame
    assert not any(c.endswith((P5, P95)) or c == "population" for c in t.columns)


def test_animal_regimens_refuse_a_population_in_one_line():
    with pytest.raises(PkdoseError, match="virtual populations are human"):
        compare(["rapamycin 14 ppm in the diet"], species="mouse", n=10, spread=False)


def test_curve_band_is_the_percentiles_of_the_same_curves():
    t = np.arange(0.0, 169.0, 4.0)
    band = curve_band(REGIMEN, "older-adults", 40, 5, times_h=t)
    conc = simulate_curves(REGIMEN, 40, "older-adults", 5, times_h=t)
    assert np.array_equal(band["conc_p5_ng_ml"], np.percentile(conc, 5, axis=0))
    assert np.array_equal(band["conc_p95_ng_ml"], np.percentile(conc, 95, axis=0))


def test_cli_compare_prints_intervals_and_writes_them(tmp_path):
    csv, js, png = tmp_path / "c.csv", tmp_path / "c.json", tmp_path / "c.png"
    res = CliRunner().invoke(main, ["compare", REGIMEN, "--population", "older-adults",
                                    "--n", "40", "--csv", str(csv), "--json", str(js),
                                    "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "5-95 % of 40 (older-adults)" in res.output
    df = pd.read_csv(csv)
    assert df.loc[0, "cavg_ng_ml" + P5] < df.loc[0, "cavg_ng_ml" + P95]
    row = json.loads(js.read_text())["rows"][0]
    assert row["cavg_ng_ml" + P5] == pytest.approx(df.loc[0, "cavg_ng_ml" + P5], rel=1e-9)
    assert png.stat().st_size > 0


def test_cli_report_carries_the_interval_in_every_output(tmp_path):
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, ["report", "regimens/afinitor-10mg-daily.toml", "--out",
                                    str(out), "--n", "30", "--file-timeout", "300"])
    assert res.exit_code == 0, res.output
    rows = pd.read_csv(out / "metrics.csv")
    assert {"ctrough_ng_ml" + P5, "ctrough_ng_ml" + P95, "mtorc2_spared_fraction"} <= set(
        rows["metric"])
    assert "5-95 % of 30 (typical subject)" in (out / "report.md").read_text()
    assert "5-95 % of 30 (typical subject)" in (out / "report.html").read_text()
    assert "--n 30" in (out / "report.html").read_text()


def test_zero_subjects_is_refused_not_read_as_the_default():
    with pytest.raises(PkdoseError, match="number of subjects must be a whole number >= 1"):
        compare([REGIMEN], n=0, spread=False)
