"""Virtual populations: reproducible draws, cited covariates, summaries and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from pkdose.cli import main
from pkdose.errors import PkdoseError
from pkdose.model import get_model
from pkdose.population import (
    BLOCK,
    draw_etas,
    draw_occasions,
    load_population,
    residual_error,
    simulate_course,
    simulate_observations,
    simulate_population,
    summarise,
)
from pkdose.regimen import compile_trains
from pkdose.regimen_text import parse_regimen

pytestmark = pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
LINEAR = "golubovic2019"  # linear sirolimus model: fast, and median AUC = typical AUC


def test_same_seed_gives_identical_metrics_whatever_the_chunk_size():
    n = BLOCK + 44  # two blocks, the second partial
    runs = [simulate_population("sirolimus 5 mg weekly", n, "older-adults", seed=7,
                                model=LINEAR, chunk=c) for c in (1, 100, 10_000)]
    for met, fan in runs[1:]:
        pd.testing.assert_frame_equal(met, runs[0][0], check_exact=True)
        pd.testing.assert_frame_equal(fan, runs[0][1], check_exact=True)
    other, _ = simulate_population("sirolimus 5 mg weekly", n, "older-adults", seed=8,
                                   model=LINEAR)
    assert not np.allclose(other["auc168_ng_h_ml"], runs[0][0]["auc168_ng_h_ml"])


@pytest.mark.slow
def test_local_workers_and_a_dask_cluster_give_bitwise_the_single_process_result():
    distributed = pytest.importorskip("distributed")
    n = BLOCK + 44
    args = ("sirolimus 5 mg weekly", n, "older-adults")
    ref = simulate_population(*args, seed=7, model=LINEAR, chunk=10_000, workers=1)
    local = simulate_population(*args, seed=7, model=LINEAR, chunk=1, workers=2)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = simulate_population(*args, seed=7, model=LINEAR, chunk=1, scheduler=client)
    for met, fan in (local, on_dask):
        pd.testing.assert_frame_equal(met, ref[0], check_exact=True)
        pd.testing.assert_frame_equal(fan, ref[1], check_exact=True)


def test_etas_are_chunk_invariant_and_have_the_model_omega():
    m = get_model("wu2012")
    eta, occ = draw_etas(m, 40_000, seed=3)
    assert occ.shape == (40_000, 0)
    pieces = [draw_etas(m, k, seed=3, start=s)[0] for s, k in ((0, 1000), (1000, 39_000))]
    assert np.array_equal(np.concatenate(pieces), eta)
    # Sample covariance: standard error of a variance w is w*sqrt(2/n) (< 0.003 here);
    # 0.015 absolute is > 5 standard errors, and off-diagonals (true 0) have SE < 0.002.
    np.testing.assert_allclose(np.cov(eta.T), m.iiv.matrix, atol=0.015)
    np.testing.assert_allclose(eta.mean(axis=0), 0.0, atol=0.015)


def test_correlated_omega_and_iov_are_drawn_too():
    m = get_model("dewit2016")
    eta, occ = draw_etas(m, 40_000, seed=5)
    np.testing.assert_allclose(np.var(occ[:, 0]), m.iov.matrix[0, 0], rtol=0.05)
    from dataclasses import replace

    from pkdose.model import Variability

    corr = replace(m, iiv=Variability(("cl", "v1"), ((0.1, 0.05), (0.05, 0.2))))
    eta, _ = draw_etas(corr, 40_000, seed=5)
    np.testing.assert_allclose(np.cov(eta.T), [[0.1, 0.05], [0.05, 0.2]], atol=0.01)


@pytest.mark.parametrize("name", ["older-adults", "transplant-adults"])
def test_covariates_stay_in_their_ranges_with_the_stated_means(name):
    pop = load_population(name)
    df = pop.draw(0, 20_000, seed=11)
    assert abs(np.mean(df["sex"] == "female") - pop.female_fraction) < 0.02  # SE 0.0035
    for dist in pop.covariates:
        x = df[dist.name].to_numpy()
        assert x.min() >= dist.low and x.max() <= dist.high
        # The mean of the truncated normals mixed over sex (an independent formula).
        expected = sum(w * stats.truncnorm.mean((dist.low - dist.mean[sex]) / dist.sd[sex],
                                                (dist.high - dist.mean[sex]) / dist.sd[sex],
                                                dist.mean[sex], dist.sd[sex])
                       for sex, w in (("male", 1 - pop.female_fraction),
                                      ("female", pop.female_fraction)))
        # SE of the mean <= 17/sqrt(20000) = 0.12; 0.6 is 5 SE.
        assert abs(x.mean() - expected) < 0.6
        assert dist.source
    if name == "older-adults":
        assert df["age_y"].between(65, 85).all()
    assert np.array_equal(pop.draw(100, 300, seed=11)["weight_kg"],
                          df["weight_kg"].to_numpy()[100:300])


def test_typical_subject_median_matches_the_typical_prediction_for_a_linear_model():
    from pkdose.comparison import compare

    met, fan = simulate_population("sirolimus 2 mg daily", 600, None, seed=2, model=LINEAR)
    typical = compare(["sirolimus 2 mg daily"], LINEAR, with_pd=False).frame
    # AUC = F dose / CL with log-normal CL: the population median is the typical value.
    # SE of the median ~ 1.25 * 0.234 / sqrt(600) = 1.2 %; tolerance 5 %.
    assert np.median(met["auc168_ng_h_ml"]) == pytest.approx(
        typical["auc168_ng_h_ml"][0], rel=0.05)
    assert list(fan.columns) == ["regimen", "time_h", "p5", "p25", "p50", "p75", "p95"]
    assert fan["time_h"].iloc[-1] == 672 and (fan["p5"] <= fan["p95"]).all()
    assert set(met["mtorc2_verdict"]) <= {"spared", "equivocal", "inhibited"}


def test_summary_percentiles_verdict_fractions_and_target_attainment():
    met, _ = simulate_population("sirolimus 5 mg weekly", 300, "transplant-adults", seed=1,
                                 model=LINEAR)
    s = summarise(met, ["trough<3", "AUC168>300", "Cavg>=2", "mtorc2>=0.8"])
    row = s.set_index("statistic")
    trough = met["ctrough_ng_ml"]
    assert row.loc["ctrough_ng_ml", "p50"] == pytest.approx(trough.median())
    assert row.loc["P(trough<3)", "fraction"] == pytest.approx(np.mean(trough < 3))
    assert row.loc["P(Cavg>=2)", "fraction"] == pytest.approx(np.mean(met["cavg_ng_ml"] >= 2))
    verdicts = [row.loc[f"mtorc2 {k}", "fraction"] for k in ("spared", "equivocal", "inhibited")]
    assert sum(verdicts) == pytest.approx(1.0)
    assert "age_y" not in set(s["statistic"]) and "mtorc1_mean" in set(s["statistic"])


def test_a_population_statistic_target_says_whether_it_is_met():
    met, _ = simulate_population("sirolimus 5 mg weekly", 100, None, seed=1, model=LINEAR)
    s = summarise(met, ["median Cavg>=2", "p90 trough<100"]).set_index("statistic")
    median = float(np.median(met["cavg_ng_ml"]))
    key = f"median Cavg>=2: {'met' if median >= 2 else 'not met'}"
    assert s.loc[key, "p50"] == pytest.approx(median)
    assert s.loc["p90 trough<100: met", "fraction"] == 1.0


def test_population_from_a_csv_cycles_its_rows(tmp_path):
    path = tmp_path / "cov.csv"
    pd.DataFrame({"id": [1, 2], "weight_kg": [50, 100], "sex": ["f", "m"],
                  "age_y": [70, 40]}).to_csv(path, index=False)
    met, _ = simulate_population("sirolimus 5 mg weekly", 5, str(path), model=LINEAR)
    assert met["weight_kg"].tolist() == [50, 100, 50, 100, 50]
    assert met["sex"].tolist()[:2] == ["female", "male"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"shoe_size": [42]}).to_csv(bad, index=False)
    with pytest.raises(PkdoseError, match="unknown covariate"):
        load_population(str(bad))
    with pytest.raises(PkdoseError, match="unknown population"):
        load_population("martians")


def test_cli_prints_the_summary_and_writes_csv_and_fan_plot(tmp_path):
    csv, png = tmp_path / "pop.csv", tmp_path / "fan.png"
    res = CliRunner().invoke(main, ["population", "sirolimus 5 mg weekly",
                                    "sirolimus 10 mg weekly", "--n", "60", "--model", LINEAR,
                                    "--population", "older-adults", "--target", "trough<3",
                                    "--csv", str(csv), "--plot", str(png)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    assert "P(trough<3)" in res.stdout and "mTORC2 verdict" in res.stdout
    df = pd.read_csv(csv)
    assert len(df) == 120 and df["regimen"].nunique() == 2
    assert png.stat().st_size > 10_000


def test_cli_simulates_observations_at_sampling_times(tmp_path):
    out = tmp_path / "obs.csv"
    res = CliRunner().invoke(main, ["population", "everolimus 5 mg daily", "--n", "40",
                                    "--model", "terheine2018", "--observe", "23.5,167.5",
                                    "--observe-csv", str(out), "--workers", "1"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    assert "167.5 h (dose 7)" in res.stdout
    obs = pd.read_csv(out)
    assert len(obs) == 80 and {"pred_ng_ml", "obs_ng_ml", "occasion"} <= set(obs.columns)


@pytest.mark.parametrize("args", [["--population", "martians"], ["--target", "trough=3"],
                                  ["--observe", "24,soon"], ["--observe-csv", "obs.csv"]])
def test_cli_bad_input_exits_2(args):
    res = CliRunner().invoke(main, ["population", "sirolimus 5 mg weekly", "--n", "5",
                                    "--model", LINEAR, *args])
    assert res.exit_code == 2 and "pkdose: error:" in res.stderr


def test_a_target_the_summary_refuses_is_refused_before_any_subject_is_simulated(
        monkeypatch):
    import pkdose.population

    def simulated(*args, **kwargs):
        raise AssertionError("an arm was simulated before its target was refused")

    monkeypatch.setattr(pkdose.population, "simulate_population", simulated)
    res = CliRunner().invoke(main, ["population", "sirolimus 5 mg weekly", "--n", "5000",
                                    "--target", "median Cavg=2"])
    assert res.exit_code == 2 and "median Cavg>=2" in res.stderr


def test_empty_sampling_times_are_an_error_not_ignored():
    # --observe "" printed the summary without observations and exit 0.
    res = CliRunner().invoke(main, ["population", "sirolimus 5 mg weekly", "--n", "5",
                                    "--model", LINEAR, "--observe", ""])
    assert res.exit_code == 2 and "sampling times" in res.stderr


def test_observations_name_the_arm_with_its_co_medications_as_the_metrics_do(tmp_path):
    obs, met = tmp_path / "obs.csv", tmp_path / "met.csv"
    res = CliRunner().invoke(main, ["population", "sirolimus 5 mg weekly", "--n", "5",
                                    "--model", LINEAR, "--with", "ketoconazole",
                                    "--observe", "24", "--observe-csv", str(obs),
                                    "--csv", str(met)], catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    # They said "sirolimus 5 mg weekly", as if simulated without ketoconazole.
    arm = "sirolimus 5 mg weekly with ketoconazole"
    assert set(pd.read_csv(obs)["regimen"]) == set(pd.read_csv(met)["regimen"]) == {arm}
    assert f"{arm}: simulated observations" in res.stdout


@pytest.mark.parametrize("command", [["population"], ["compare", "--population",
                                                      "older-adults"]])
def test_a_negative_seed_is_bad_input_not_a_bug(command):
    # numpy's ValueError came through as an internal error (exit 3).
    res = CliRunner().invoke(main, [*command, "sirolimus 5 mg weekly", "--n", "5",
                                    "--seed", "-1"])
    assert res.exit_code == 2 and "seed must be a whole number >= 0" in res.stderr


def test_a_course_step_longer_than_the_course_and_a_metric_not_summarised_are_refused():
    # An IndexError and a KeyError.
    with pytest.raises(PkdoseError, match="a time step of 100 h is longer than the 48 h "
                                          "simulated"):
        simulate_course("sirolimus 1 mg daily", 3, until_h=48, step_h=100)
    met, _ = simulate_population("sirolimus 1 mg daily", 3, model=LINEAR, fan=False)
    with pytest.raises(PkdoseError, match="the population has no t90ss_h"):
        summarise(met, ["T90ss<100"])


def test_every_dose_is_an_occasion_with_its_own_reproducible_draw():
    m = get_model("terheine2018")
    kappa = draw_occasions(m, 20_000, 3, seed=4)
    # Each occasion has the model's IOV variance (SE of a variance w: w*sqrt(2/n) ~ 0.008)
    # and occasions are independent (SE of a correlation ~ 0.007).
    np.testing.assert_allclose(kappa.var(axis=0)[:, 0], m.iov.matrix[0, 0], rtol=0.05)
    assert abs(np.corrcoef(kappa[:, 0, 0], kappa[:, 1, 0])[0, 1]) < 0.03
    more = draw_occasions(m, 20_000, 5, seed=4)
    assert np.array_equal(more[:, :3], kappa)  # later occasions do not change earlier ones
    assert np.array_equal(draw_occasions(m, 300, 3, seed=4, start=19_700), kappa[19_700:])


def test_observations_change_between_occasions_and_are_reproducible():
    times = [23.5, 47.5, 71.5]  # troughs of three dosing occasions
    a = simulate_observations("everolimus 5 mg daily", 300, times, seed=9,
                              model="terheine2018")
    assert a["occasion"].tolist()[:3] == [1, 2, 3]
    b = simulate_observations("everolimus 5 mg daily", 600, times, seed=9,
                              model="terheine2018")
    pd.testing.assert_frame_equal(a, b.iloc[:900].reset_index(drop=True), check_exact=True)
    c = simulate_observations("everolimus 5 mg daily", 300, times, seed=10,
                              model="terheine2018")
    assert not np.allclose(a["pred_ng_ml"], c["pred_ng_ml"])


def test_superposed_occasions_without_iov_equal_the_train_solution():
    from dataclasses import replace

    from pkdose.model import Variability, covariate_table
    from pkdose.simulation import concentrations, prepare

    m = get_model("dewit2016")
    no_iov = replace(m, iov=Variability(("f",), ((0.0,),)))
    times = np.array([2.0, 23.0, 100.0, 170.0])
    obs = simulate_observations("everolimus 10 mg daily", 20, times, seed=3, model=no_iov,
                                residual=False)
    eta, occ = draw_etas(no_iov, 20, seed=3)
    prep = prepare(no_iov, covariate_table(load_population(None).draw(0, 20, 3)), eta, occ)
    direct = concentrations(prep, compile_trains(parse_regimen("everolimus 10 mg daily")),
                            times)["conc_ng_ml"]
    np.testing.assert_allclose(obs["pred_ng_ml"].to_numpy().reshape(20, 4), direct,
                               rtol=1e-12)


def test_residual_error_has_the_model_variance():
    m = get_model(LINEAR)  # proportional 24.9 % and additive 1.93 ng/mL
    obs = simulate_observations("sirolimus 2 mg daily", 4000, [23.0, 167.0], seed=5,
                                model=LINEAR, residual=False)
    pred = obs["pred_ng_ml"].to_numpy().reshape(4000, 2)
    # Before censoring (BLQ values are reported as such, not as values).
    sd = np.hypot(m.residual["proportional"] * pred, m.residual["additive_ng_ml"])
    z = (residual_error(m, pred, seed=5) - pred) / sd
    # 8000 standardised residuals: SE of the SD ~ 0.008, of the mean ~ 0.011.
    assert abs(z.std() - 1.0) < 0.04
    assert abs(z.mean()) < 0.05


def test_course_summaries_are_those_of_the_hourly_curves_of_the_same_subjects():
    from pkdose.model import covariate_table
    from pkdose.simulation import concentrations, prepare

    reg = "sirolimus 2 mg daily for 14 days"
    df = simulate_course(reg, 30, seed=2, model=LINEAR, chunk=1)
    eta, occ = draw_etas(get_model(LINEAR), 30, seed=2)
    prep = prepare(get_model(LINEAR), covariate_table(load_population(None).draw(0, 30, 2)),
                   eta, occ)
    t = np.arange(0.0, 14 * 24 + 0.5)
    c = concentrations(prep, compile_trains(parse_regimen(reg)), t)["conc_ng_ml"]
    np.testing.assert_allclose(df["cavg_ng_ml"], np.trapezoid(c, t, axis=1) / t[-1], rtol=1e-12)
    np.testing.assert_allclose(df["cmax_ng_ml"], c.max(axis=1), rtol=1e-12)
    np.testing.assert_allclose(df["ctrough_last_ng_ml"], c[:, 13 * 24], rtol=1e-12)
    np.testing.assert_allclose(df["h_above_3"], (c > 3).sum(axis=1))


@pytest.mark.parametrize("text", ["sirolimus 6 mg weekly", "sirolimus 2 mg daily",
                                  "sirolimus 1 mg daily", "sirolimus 20 mg every 2 weeks",
                                  "sirolimus 2 mg daily for 3 weeks",
                                  # inhibited at 48 h only: equivocal across the prior
                                  "sirolimus 1 mg daily for 15 days"])
def test_verdict_across_the_turnover_prior_is_the_flag_verdict_of_the_typical_subject(text):
    # Without between-subject variability every virtual subject is the typical subject,
    # whom pkdose flag judges at 48, 96 and 168 h (equivocal when they disagree).
    from dataclasses import replace

    from pkdose.comparison import flag
    from pkdose.model import Variability

    typical = replace(get_model("golubovic2019"), iiv=Variability(), iov=Variability())
    met, _ = simulate_population(text, 3, model=typical, fan=False)
    verdict = flag([text], model=typical)[0]
    assert set(met["mtorc2_verdict"]) == {verdict.label}
    assert set(met["mtorc2_rule_verdict"]) == {verdict.rule_label}
    central = verdict.model_labels[96.0]
    assert set(met["mtorc2_verdict_central"]) == {central}


@pytest.mark.parametrize("run", [
    lambda: simulate_population("rapamycin 14 ppm diet", 5, model="mouse_diet", fan=False),
    lambda: simulate_course("rapamycin 14 ppm diet for 10 days", 5, model="mouse_diet"),
    lambda: simulate_observations("rapamycin 14 ppm diet", 5, [24.0], model="mouse_diet")])
def test_an_animal_model_is_refused_not_given_human_covariates(run):
    # Before, every arm drew human covariates (70 kg adults) and fed them to the mouse model.
    with pytest.raises(PkdoseError, match="virtual populations are human"):
        run()


def test_a_bad_number_of_subjects_is_one_clear_error_with_automatic_workers():
    # Before, simulate_course compared the text with the parallel threshold (a TypeError).
    with pytest.raises(PkdoseError, match="whole number >= 1, got 'x'"):
        simulate_course("sirolimus 5 mg weekly", "x", workers=None)


@pytest.mark.parametrize("times", [["a"], "soon", [[1.0, 2.0], [3.0]]])
def test_sampling_times_that_are_not_numbers_are_one_clear_error(times):
    # Before, numpy's ValueError came through ("could not convert string to float").
    with pytest.raises(PkdoseError, match="sampling times must be numbers of hours"):
        simulate_observations("sirolimus 1 mg daily", 2, times)


def test_a_summary_target_stated_for_an_immunoassay_is_judged_on_the_lcms_scale():
    # The metrics are LC-MS/MS levels; "by CMIA" was dropped and 4 compared with them as is.
    from pkdose.assay import assay_bias

    ratio = assay_bias("sirolimus", "CMIA").ratio
    cavg = np.linspace(2.0, 5.0, 101)  # median 3.5: below 4, above 4 / 1.25 = 3.2
    metrics = pd.DataFrame({"regimen": "sirolimus 1 mg daily", "cavg_ng_ml": cavg,
                            "ctrough_ng_ml": cavg})
    out = summarise(metrics, ["median Cavg>=4 by CMIA", "median Cavg>=4",
                              "trough<4 by CMIA"]).set_index("statistic")["fraction"]
    assert ratio == pytest.approx(1.25)
    assert out["median Cavg>=4 by CMIA (= >=3.2 LC-MS/MS): met"] == 1.0
    assert out["median Cavg>=4: not met"] == 0.0
    assert out["P(trough<4 by CMIA (= <3.2 LC-MS/MS))"] == pytest.approx(np.mean(cavg < 3.2))


@pytest.mark.parametrize("extra", [["--lloq", "0.5"], ["--observe-csv", "obs.csv"]])
def test_an_observation_option_without_observe_is_refused(extra, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["population", "sirolimus 1 mg daily", "--n", "5", *extra])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == (
        f"pkdose: error: {extra[0]} needs --observe TIMES, e.g. --observe 23.5,167.5")
