"""Issue 16 items 5, 6 and 11: assay methods, children, levels below the limit."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

import pkdose
from pkdose.assay import assay_bias, to_lcms
from pkdose.censoring import below_limit, censored_percentiles, negative_log_likelihood
from pkdose.cli import main
from pkdose.errors import ExtrapolationWarning, PkdoseError
from pkdose.individual import dose_target, estimate, fitted_levels, simulate_levels
from pkdose.levels import read_levels
from pkdose.population import residual_error, simulate_observations
from pkdose.references import targets
from pkdose.regimen_text import parse_regimen
from pkdose.targets import lcms_band, parse_target

SIROLIMUS = parse_regimen("sirolimus 2 mg daily")


# --- assay methods -------------------------------------------------------------------------


@pytest.mark.parametrize(("drug", "method", "ratio", "low", "high"), [
    # Clin Biochem 2009, doi:10.1016/j.clinbiochem.2009.06.018: +14, +25, +39 % at 3 sites.
    ("sirolimus", "CMIA", 1.25, 1.14, 1.39),
    # Wilson 2006: about 25 % positive slope bias against LC methods.
    ("sirolimus", "MEIA", 1.25, 1.25, 1.25),
    # Stove 2018: Deming slope 1.05 against LC-MS/MS.
    ("sirolimus", "ECLIA", 1.05, 1.05, 1.05),
    # PMID 19303402: RxL = 1.20 LC-MS/MS - 0.70.
    ("sirolimus", "ACMIA", 1.20, 1.20, 1.20),
    # PMID 25162218: 6.3 / 4.8 ng/mL (rounded to 1.31); Ther Drug Monit 2017: -8.0 %.
    ("everolimus", "QMS", 1.31, 0.92, 1.31),
    # Ther Drug Monit 2018: slope 1.21; 2017: +34.2 %.
    ("everolimus", "ECLIA", 1.21, 1.21, 1.342),
])
def test_assay_biases_are_the_cited_numbers(drug, method, ratio, low, high):
    tol = 1e-12  # typed in from the sources: exact
    b = assay_bias(drug, method)
    assert abs(b.ratio - ratio) < tol and abs(b.low - low) < tol and abs(b.high - high) < tol


def test_qms_ratio_is_the_ratio_of_the_reported_means():
    tol = 0.005  # 6.3/4.8 = 1.3125, rounded to two decimals
    assert abs(assay_bias("everolimus", "QMS").ratio - 6.3 / 4.8) < tol


def test_chromatographic_methods_are_not_converted_and_aliases_resolve():
    assert assay_bias("sirolimus", "hplc").ratio == 1.0
    assert assay_bias("everolimus", "LC/MS/MS").ratio == 1.0
    assert assay_bias("sirolimus", "Architect").method == "CMIA"
    assert to_lcms(10.0, "sirolimus", "CMIA") == pytest.approx(8.0, rel=1e-12)
    with pytest.raises(PkdoseError, match="no cited bias of FPIA"):
        assay_bias("everolimus", "FPIA")
    with pytest.raises(PkdoseError, match="unknown assay method"):
        assay_bias("sirolimus", "Western blot")


def test_a_target_stated_for_an_immunoassay_is_put_on_the_lcms_scale():
    tol = 1e-12
    t = parse_target("trough 5-10 by CMIA").on_lcms_scale("sirolimus")
    assert abs(t.low - 4.0) < tol and abs(t.high - 8.0) < tol and "4-8 LC-MS/MS" in t.text
    # The method may come from the levels (--assay) instead of the target.
    t = dose_target("trough 5-10", "sirolimus", "CMIA")
    assert abs(t.low - 4.0) < tol
    # Converted once: a converted target is on the reference scale.
    assert dose_target(t, "sirolimus", "CMIA").low == t.low
    assert parse_target("trough 5-10").on_lcms_scale("sirolimus") == parse_target("trough 5-10")
    with pytest.raises(PkdoseError, match="only concentration targets"):
        parse_target("mTORC1>=50% by CMIA").on_lcms_scale("sirolimus")


def test_reference_bands_carry_their_method_or_say_the_assumption():
    lo, hi, said = lcms_band("everolimus", 3.0, 8.0, "QMS")
    assert lo == pytest.approx(3.0 / 1.31, rel=1e-12) and "by QMS" in said
    lo, hi, said = lcms_band("sirolimus", 5.0, None, "")
    assert lo == 5.0 and math.isnan(hi) and said.startswith("no assay method given")
    tg = targets()
    kidney = tg[tg["reference"] == "zortress-kidney"]
    assert "LC-MS/MS" in set(kidney["assay"])
    assert (tg["assay_note"] != "").all()


def test_levels_by_immunoassay_are_converted_and_reported_both_ways():
    df = pd.DataFrame({"time": [23.5, 47.5], "conc_ng_ml": ["10", "5"],
                       "assay": ["CMIA", ""]})
    lev = read_levels(df, SIROLIMUS, assay="ECLIA")
    np.testing.assert_allclose(lev.conc_ng_ml, [10 / 1.25, 5 / 1.05], rtol=1e-12)
    np.testing.assert_allclose(lev.as_measured, [10, 5], rtol=0)
    assert lev.methods() == ["CMIA", "ECLIA"]
    with pytest.raises(PkdoseError, match="row 1: unknown assay method"):
        read_levels(pd.DataFrame({"time": [1], "conc_ng_ml": ["3"], "assay": ["xyz"]}),
                    SIROLIMUS)


# --- levels below the limit of quantification ----------------------------------------------


def test_m3_term_is_the_hand_computed_probability():
    tol = 1e-12
    # Prediction at the limit: P(below) = 1/2, so -log p = log 2.
    nll = negative_log_likelihood(np.array([1.0]), np.array([[1.0]]), np.array([[0.25]]),
                                  np.array([True]))
    assert abs(nll[0] - math.log(2.0)) < tol
    # Prediction 0, limit 1, SD 0.5: -log Phi(2); Phi(2) = 0.9772498680518208.
    nll = negative_log_likelihood(np.array([1.0]), np.array([[0.0]]), np.array([[0.25]]),
                                  np.array([True]))
    assert abs(nll[0] + math.log(0.9772498680518208)) < tol
    # A quantified level beside it keeps its Gaussian term: (y - f)^2 / 2 s^2 + log(s^2)/2.
    nll = negative_log_likelihood(np.array([3.0, 1.0]), np.array([[2.0, 0.0]]),
                                  np.array([[4.0, 0.25]]), np.array([False, True]))
    assert abs(nll[0] - (0.5 * (1 / 4 + math.log(4.0)) - math.log(0.9772498680518208))) < tol


def test_censored_levels_are_read_from_less_than_cells_words_and_limits():
    df = pd.DataFrame({"time": [23, 47, 71, 95],
                       "conc_ng_ml": ["<0.5", "3.1", "BLQ", "0.2"],
                       "lloq_ng_ml": ["", "", "0.4", "0.5"]})
    lev = read_levels(df, SIROLIMUS)
    assert lev.below_limit.tolist() == [True, False, True, True]
    np.testing.assert_allclose(lev.conc_ng_ml, [0.5, 3.1, 0.4, 0.5], rtol=0)
    with pytest.raises(PkdoseError, match="needs its limit"):
        read_levels(pd.DataFrame({"time": [1], "conc_ng_ml": ["BLQ"]}), SIROLIMUS)
    with pytest.raises(PkdoseError, match="write a level below quantification as <LLOQ"):
        read_levels(pd.DataFrame({"time": [1], "conc_ng_ml": ["0"]}), SIROLIMUS)


def test_m3_recovers_clearance_where_dropping_censored_levels_biases_it():
    # Troughs of a course that stops: late levels fall below 1 ng/mL. Truth vs MAP CL eta
    # over 12 simulated subjects: M3 must err less on average than leaving BLQ out.
    reg = "sirolimus 2 mg daily for 7 days"
    times = [2.0, 23.5, 167.5, 191.5, 215.5, 263.5, 311.5]
    levels, eta = simulate_levels(reg, times, 12, model="golubovic2019", seed=4,
                                  lloq_ng_ml=1.0)
    assert sum(int(lev.below_limit.sum()) for lev in levels) >= 12  # censoring matters
    err_m3, err_drop = [], []
    for lev, truth in zip(levels, eta, strict=True):
        keep = ~lev.below_limit
        dropped = type(lev)(lev.time_h[keep], lev.conc_ng_ml[keep], lev.doses)
        for fit_levels, errs in ((lev, err_m3), (dropped, err_drop)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = estimate(reg, fit_levels, "golubovic2019", n_proposals=200,
                               n_samples=50)
            errs.append(fit.mode[0] - truth[0])
    # Dropping BLQ levels overestimates exposure (CL biased low); M3 does not.
    assert abs(np.mean(err_m3)) < abs(np.mean(err_drop))
    assert np.sqrt(np.mean(np.square(err_m3))) < 0.25  # eta(CL) SD of the prior: 0.27


def test_fitted_levels_say_which_are_censored():
    df = pd.DataFrame({"time": [23.5, 167.5], "conc_ng_ml": ["4.2", "<1"]})
    fit = estimate("sirolimus 2 mg daily for 5 days", df, "golubovic2019", n_proposals=200,
                   n_samples=50)
    lv = fitted_levels(fit)
    assert lv["censored"].tolist() == [False, True] and lv["measured_ng_ml"].iloc[1] == 1.0


def test_simulated_observations_report_blq_not_negative_values():
    times = [23.0, 167.0]
    obs = simulate_observations("sirolimus 1 mg daily for 3 days", 500, times, seed=2,
                                model="golubovic2019", lloq_ng_ml=0.5)
    raw = residual_error(pkdose.get_model("golubovic2019"),
                         obs["pred_ng_ml"].to_numpy().reshape(500, 2), seed=2)
    expected = (raw <= 0) | (raw < 0.5)
    assert obs["blq"].to_numpy().tolist() == expected.ravel().tolist()
    assert obs["blq"].sum() > 0 and obs["obs_ng_ml"].isna().eq(obs["blq"]).all()
    assert (obs["obs_ng_ml"].dropna() >= 0.5).all()
    with pytest.raises(PkdoseError, match="limit of quantification"):
        below_limit(np.ones(2), -1.0)


def test_censored_percentiles_rank_blq_lowest():
    obs = np.array([np.nan, np.nan, 1.0, 2.0, 3.0])
    blq = np.isnan(obs)
    q = censored_percentiles(obs, blq, (0, 40, 50, 100))
    assert np.isnan(q[0]) and np.isnan(q[1]) and q[2] == 1.0 and q[3] == 3.0
    x = stats.norm.rvs(size=41, random_state=1) + 5
    np.testing.assert_allclose(censored_percentiles(x, np.zeros(41, bool), (5, 50, 95)),
                               np.percentile(x, (5, 50, 95)), rtol=1e-12)


# --- children ------------------------------------------------------------------------------


def _trough(model, age, weight, height):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = pkdose.compare(["everolimus 4.5 mg/m2 daily"], model=model,
                           subjects={"age_y": age, "weight_kg": weight, "height_cm": height})
    return float(t.to_frame()["ctrough_ng_ml"].iloc[0])


@pytest.mark.parametrize(("model", "tol"), [("dewit2016", 1e-9), ("mo2025", 1e-9),
                                            # saturable red-cell binding: not linear
                                            ("terheine2018", 0.02)])
def test_child_trough_per_mg_m2_is_the_label_ratio(model, tol):
    # Afinitor label 12.3: Cmin per mg/m2 54 % lower under 10 y, 40 % lower at 10-18 y.
    adult = _trough(model, 50, 70, 180)  # the adult reference subject
    assert abs(_trough(model, 6, 21, 116) / adult / 0.46 - 1) < tol
    assert abs(_trough(model, 14, 50, 160) / adult / 0.60 - 1) < tol


def test_children_are_warned_about_or_refused():
    with pytest.warns(ExtrapolationWarning, match="label's trough ratio 0.46 below 10 y"):
        pkdose.compare(["everolimus 4.5 mg/m2 daily"], model="dewit2016",
                       subjects={"age_y": 6, "weight_kg": 21, "height_cm": 116})
    # An adult sirolimus model refuses a child (the paediatric model: test_paediatric_sirolimus).
    with pytest.raises(PkdoseError, match="sirolimus for a child aged 6 y"):
        pkdose.compare(["sirolimus 1 mg/m2 daily"], model="wu2012",
                       subjects={"age_y": 6, "weight_kg": 21, "height_cm": 116})
    with pytest.raises(PkdoseError, match="begin at 1 y"):
        pkdose.compare(["everolimus 4.5 mg/m2 daily"],
                       subjects={"age_y": 0.5, "weight_kg": 8, "height_cm": 68})
    # A 17-year-old is within Golubovic 2019's source ages (16-64 y): no refusal.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pkdose.compare(["sirolimus 2 mg daily"], model="golubovic2019",
                       subjects={"age_y": 17})


# --- the commands --------------------------------------------------------------------------


def test_cli_individual_shows_levels_both_ways_and_population_counts_blq(tmp_path):
    csv = tmp_path / "levels.csv"
    csv.write_text("time,conc_ng_ml\n2,18.5\n23.5,9.1\n167.5,<1.5\n")
    res = CliRunner().invoke(main, ["individual", "--regimen", "sirolimus 6 mg weekly",
                                    "--levels", str(csv), "--assay", "CMIA",
                                    "--target", "trough 5-10"])
    assert res.exit_code == 0, res.output
    assert "<1.2    <1.5 CMIA" in res.output and "divided by 1.25" in res.output
    assert "(= 4-8 LC-MS/MS)" in res.output and "M3" in res.output
    res = CliRunner().invoke(main, ["population", "sirolimus 1 mg weekly", "--n", "200",
                                    "--observe", "167.5", "--lloq", "1"])
    assert res.exit_code == 0, res.output
    assert "BLQ" in res.output and "<1 / <1" in res.output
    res = CliRunner().invoke(main, ["population", "sirolimus 1 mg weekly", "--n", "20",
                                    "--observe", "167.5", "--lloq", "-1"])
    assert res.exit_code == 2 and "limit of quantification" in res.output


def test_models_list_says_what_is_done_for_children():
    res = CliRunner().invoke(main, ["models", "--drug", "everolimus"])
    assert res.exit_code == 0 and "children: under 18 y" in res.output
    res = CliRunner().invoke(main, ["models", "--drug", "sirolimus"])
    assert "children: under 18 y, the paediatric model fan2024" in res.output
