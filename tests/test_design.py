"""Trial design: the dose for a target, arm sizes and overlap, the mTOR window."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from pkdose.cli import main
from pkdose.design import (
    LOG_DOSE_XTOL,
    at_dose,
    compare_arms,
    dose_grid,
    find_dose,
    n_per_arm,
    pareto_front,
    parse_dose_target,
    prob_greater,
    schedule_regimen,
    t_test_power,
    therapeutic_window,
)
from pkdose.drugs import tablet_doses
from pkdose.errors import PkdoseError
from pkdose.population import simulate_population

pytestmark = pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
LINEAR = "golubovic2019"  # dose-linear sirolimus model: fast, metrics proportional to dose
N = 200


# --- targets -------------------------------------------------------------------------------


def test_targets_read_as_a_percentile_of_a_metric():
    t = parse_dose_target("median Cavg=2")
    assert (t.column, t.quantile, t.value, t.fraction) == ("cavg_ng_ml", 0.5, 2.0, None)
    t = parse_dose_target("P10 trough = 3")
    assert (t.column, t.quantile, t.value) == ("ctrough_ng_ml", 0.10, 3.0)
    # 90 % below 3 is the 90th percentile at 3; 90 % above 3 is the 10th.
    t = parse_dose_target("trough<3", 0.9)
    assert (t.quantile, t.fraction, t.op, t.high, t.text) == (pytest.approx(0.9), 0.9, "<", 3.0,
                                                              "trough<3")
    assert parse_dose_target("AUC168>300", 0.9).quantile == pytest.approx(0.1)
    for text in ("fraction meeting trough<3 = 0.9", "P(trough<3)=0.9"):
        assert parse_dose_target(text) == parse_dose_target("trough<3", 0.9)


def test_a_condition_target_is_decided_by_the_right_order_statistic():
    x = np.arange(1.0, 11.0)  # 10 subjects: 1..10
    assert parse_dose_target("trough<3", 0.25).attained(x) == 3.0  # 3rd smallest
    assert parse_dose_target("trough>3", 0.25).attained(x) == 8.0  # 3rd largest


@settings(max_examples=60, deadline=None)
@given(q=st.integers(1, 99), value=st.floats(0.01, 1e4, allow_nan=False),
       metric=st.sampled_from(["Cavg", "trough", "AUC168", "cmax", "CTROUGH"]),
       op=st.sampled_from(["<", "<=", ">", ">="]), frac=st.floats(0.01, 0.99))
def test_any_percentile_or_condition_target_reads_back(q, value, metric, op, frac):
    t = parse_dose_target(f"p{q} {metric}={value!r}")
    assert (t.quantile, t.value) == (q / 100, value)
    c = parse_dose_target(f"{metric}{op}{value!r}", frac)
    assert c.value == value and c.fraction == frac
    assert c.quantile == pytest.approx(frac if "<" in op else 1 - frac)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.1, 100.0), min_size=1, max_size=30),
       st.lists(st.floats(0.1, 100.0), min_size=1, max_size=30))
def test_overlap_of_two_arms_and_its_mirror_add_up_to_one(x, y):
    p = prob_greater(x, y)
    assert 0 <= p <= 1 and p + prob_greater(y, x) == pytest.approx(1.0)
    brute = np.mean([(a > b) + 0.5 * (a == b) for a in x for b in y])
    assert p == pytest.approx(brute)


@pytest.mark.parametrize("text,fraction", [
    ("median Cavg", None), ("p0 cavg=2", None), ("p100 cavg=2", None), ("median foo=2", None),
    ("trough<3", None), ("trough<3", 1.0), ("trough<3", 0.0), ("median cavg=2", 0.9),
    ("median mtorc2=3", None), ("cavg", None), ("P(trough<3)=0.9", 0.9),
    ("fraction meeting trough<3 = 1.5", None),
])
def test_bad_targets_are_one_line_errors(text, fraction):
    with pytest.raises(PkdoseError) as exc:
        parse_dose_target(text, fraction)
    assert "\n" not in str(exc.value)


# --- find-dose -----------------------------------------------------------------------------


def test_the_dose_found_meets_the_target_within_the_root_finder_tolerance():
    df = find_dose("sirolimus", "weekly", "median Cavg=2", n=N, model=LINEAR).set_index("row")
    root = df.loc["root"]
    # |log dose - log root| <= xtol, and for a linear model the median moves with log dose
    # at slope 1: the attained median is within xtol (relative) of the target.
    assert root["attained"] == pytest.approx(2.0, rel=2 * LOG_DOSE_XTOL)
    # Checked by a direct simulation at the dose found (no dose scaling).
    met, _ = simulate_population(at_dose(schedule_regimen("sirolimus", "weekly"),
                                         root["dose_mg"]), N, model=LINEAR)
    assert np.median(met["cavg_ng_ml"]) == pytest.approx(2.0, rel=2 * LOG_DOSE_XTOL)
    assert root["simulations"] == 1 and root["evaluations"] >= 3


def test_dose_proportionality_gives_the_analytic_answer_for_a_linear_model():
    met, _ = simulate_population("sirolimus 1 mg weekly", N, model=LINEAR)
    per_mg = float(np.median(met["cavg_ng_ml"]))
    for target in (1.0, 2.0, 4.0):
        df = find_dose("sirolimus", "weekly", f"median Cavg={target}", n=N, model=LINEAR)
        assert df["dose_mg"][0] == pytest.approx(target / per_mg, rel=2 * LOG_DOSE_XTOL)


def test_the_monte_carlo_interval_holds_the_dose_and_narrows_as_one_over_root_n():
    widths = []
    for n in (100, 400):
        r = find_dose("sirolimus", "weekly", "median Cavg=2", n=n, model=LINEAR).iloc[0]
        assert r["dose_low_mg"] < r["dose_mg"] < r["dose_high_mg"]
        widths.append(math.log(r["dose_high_mg"] / r["dose_low_mg"]))
    assert 0.3 < widths[1] / widths[0] < 0.75  # 1/sqrt(4) = 0.5, give or take resampling


def test_linear_dose_scaling_matches_direct_simulation():
    reg = schedule_regimen("sirolimus", "every 3 days")
    a, _ = simulate_population(at_dose(reg, 1.0), 50, model=LINEAR)
    b, _ = simulate_population(at_dose(reg, 3.5), 50, model=LINEAR)
    for col in ("cavg_ng_ml", "ctrough_ng_ml", "cmax_ng_ml", "auc168_ng_h_ml"):
        np.testing.assert_allclose(b[col], 3.5 * a[col], rtol=1e-9)


def test_the_dose_rises_with_the_target_and_tablets_bracket_it():
    doses = tablet_doses("sirolimus", 5)
    roots = []
    for target in (0.5, 1.0, 1.5, 3.0):
        df = find_dose("sirolimus", "weekly", f"median Cavg={target}", n=N, model=LINEAR)
        r = df.set_index("row")
        lo, root, hi = r.loc["tablet below", "dose_mg"], r.loc["root", "dose_mg"], \
            r.loc["tablet above", "dose_mg"]
        assert lo <= root <= hi and lo in doses and hi in doses
        assert not [d for d in doses if lo < d < hi]  # neighbours, nothing in between
        assert r.loc["tablet below", "attained"] <= target <= r.loc["tablet above", "attained"]
        roots.append(root)
    assert np.all(np.diff(roots) > 0)


def test_a_fraction_target_reports_who_meets_it_at_each_tablet_dose():
    df = find_dose("sirolimus", "daily", "trough<8", fraction=0.9, n=N,
                   model=LINEAR).set_index("row")
    below, above = df.loc["tablet below"], df.loc["tablet above"]
    assert below["meets"] and below["fraction_meeting"] >= 0.9
    assert not above["meets"] and above["fraction_meeting"] < 0.9
    assert df.loc["root", "attained"] == pytest.approx(8.0, rel=2 * LOG_DOSE_XTOL)


def test_a_saturable_model_is_solved_by_simulating_at_each_dose():
    df = find_dose("sirolimus", "weekly", "median Cavg=1", n=20, model="wu2012")
    assert df["simulations"][0] >= 3
    assert df["attained"][0] == pytest.approx(1.0, rel=0.01)


def test_a_schedule_must_be_one_dose_size_of_the_named_drug():
    from pkdose.regimen_text import parse_regimen

    with pytest.raises(PkdoseError, match="is for sirolimus"):
        schedule_regimen("everolimus", parse_regimen("sirolimus 1 mg weekly"))
    with pytest.raises(PkdoseError, match="more than one dose size"):
        schedule_regimen("sirolimus", "weekly for 4 weeks then 2 mg daily")


def test_a_target_stated_for_an_immunoassay_is_searched_on_the_lc_ms_scale():
    """Before: 'by CMIA' was dropped and the CMIA level searched as an LC-MS/MS one."""
    cmia = find_dose("sirolimus", "daily", "median trough=5 by CMIA", n=50, model=LINEAR)
    lcms = find_dose("sirolimus", "daily", "median trough=4", n=50, model=LINEAR)
    assert cmia["target_value"][0] == 4.0  # 5 / 1.25, the cited CMIA bias (assays.toml)
    assert cmia["dose_mg"][0] == lcms["dose_mg"][0]


def test_the_printed_target_says_the_immunoassay_value_and_its_lc_ms_value():
    """Before: 'target: median ctrough_ng_ml = 4', the CMIA 5 no longer shown."""
    res = CliRunner().invoke(main, ["design", "find-dose", "--drug", "sirolimus", "--schedule",
                                    "daily", "--target", "median trough=5 by CMIA", "--n", "50",
                                    "--model", LINEAR])
    assert res.exit_code == 0, res.output
    assert "target: median trough=5 by CMIA (= 4 LC-MS/MS) (50 subjects" in res.output


def test_children_get_the_paediatric_model_when_none_is_chosen(tmp_path):
    """Before: find-dose and window resolved the adult default before seeing the subjects,
    so children were refused ('when no model is chosen pkdose uses ... fan2024') where
    population and design arms used fan2024."""
    kids = tmp_path / "kids.csv"
    kids.write_text("age,weight\n5,20\n8,25\n")
    found = find_dose("sirolimus", "weekly", "median Cavg=2", n=10, population=str(kids))
    window = therapeutic_window("sirolimus", doses=[2], intervals_days=[7], n=10,
                                population=str(kids))
    assert set(found["model"]) == set(window["model"]) == {"fan2024"}


def test_a_drug_without_tablets_is_one_line_not_an_internal_error():
    """Before: IndexError (no tablet doses to search between) for temsirolimus."""
    res = CliRunner().invoke(main, ["design", "find-dose", "--drug", "temsirolimus",
                                    "--schedule", "iv weekly", "--target", "median Cavg=2"])
    assert res.exit_code == 2
    assert "no temsirolimus tablet dose (tablets in pkdose/data/drugs.toml: none)" in res.output
    with pytest.raises(PkdoseError, match="no sirolimus tablet dose up to 0.1 mg"):
        dose_grid("sirolimus", max_mg=0.1)


def test_an_animal_model_is_refused_for_a_virtual_population():
    """Before: 'sirolimus is given by intravenous infusion only (model mouse_diet)'."""
    with pytest.raises(PkdoseError, match="virtual populations are human"):
        find_dose("sirolimus", "weekly", "median Cavg=2", n=5, model="mouse_diet")
    with pytest.raises(PkdoseError, match="virtual populations are human"):
        therapeutic_window("sirolimus", doses=[1.0], intervals_days=[7], n=5, model="mouse_diet")


def test_an_unreachable_target_is_a_one_line_error():
    with pytest.raises(PkdoseError, match="no dose of sirolimus 0.5-10 mg") as exc:
        find_dose("sirolimus", "weekly", "median Cavg=500", n=N, model=LINEAR)
    assert "stays below" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(PkdoseError, match="every dose"):
        find_dose("sirolimus", "weekly", "trough<100", fraction=0.5, n=N, model=LINEAR)


def test_a_dose_outside_the_fitted_range_warns():
    from pkdose.errors import ExtrapolationWarning

    with pytest.warns(ExtrapolationWarning, match="the dose found"):
        # Golubovic 2019 was fitted to 0.5-15 mg; ~17 mg weekly needs 9 tablets.
        df = find_dose("sirolimus", "weekly", "median Cavg=15", n=N, model=LINEAR,
                       max_tablets=10)
    assert df["dose_mg"][0] > 15


# --- arms ----------------------------------------------------------------------------------


def test_subjects_per_arm_match_the_textbook_t_test_sizes():
    # Two-sided alpha 0.05, power 0.8, effect size delta/sigma = 0.2, 0.5, 0.8:
    # 394, 64 and 26 per group (Cohen 1988 Table 2.4.1 / G*Power, noncentral t).
    assert [n_per_arm(d, 1.0) for d in (0.2, 0.5, 0.8)] == [394, 64, 26]
    assert n_per_arm(1.0, 2.0) == n_per_arm(0.5, 1.0)  # only delta/sigma matters
    assert n_per_arm(0.0, 1.0) == math.inf
    assert t_test_power(0.5, 1.0, 64) == pytest.approx(0.80, abs=0.01)
    for d in (0.3, 1.0, 2.0, 3.0):  # small n too: the exact power is reached, just
        n = n_per_arm(d, 1.0, power=0.9, alpha=0.01)
        assert t_test_power(d, 1.0, n, 0.01) >= 0.9 > t_test_power(d, 1.0, n - 1, 0.01)


def test_overlap_is_one_half_for_identical_arms_and_counts_ties_as_half():
    x = np.exp(np.random.default_rng(1).normal(size=500))
    assert prob_greater(x, x) == 0.5
    assert prob_greater([2.0, 2.0], [2.0]) == 0.5
    assert prob_greater([3.0], [1.0, 2.0]) == 1.0


def test_overlap_of_log_normal_samples_matches_normal_theory():
    rng = np.random.default_rng(2)
    n, delta, sigma = 4000, 0.4, 0.6
    x = np.exp(delta + sigma * rng.normal(size=n))
    y = np.exp(sigma * rng.normal(size=n))
    expected = special.ndtr(delta / (sigma * math.sqrt(2)))
    # SE of the Mann-Whitney estimate is below sqrt(p(1-p)(1/n + 1/n)) ~ 0.007; 4 SE.
    assert prob_greater(x, y) == pytest.approx(expected, abs=0.03)


def test_arms_are_different_subjects_and_resampled_power_checks_the_analytic_n():
    df = compare_arms(["sirolimus 5 mg weekly", "sirolimus 6 mg weekly"], "AUC168", n=600,
                      model=LINEAR, n_trials=1000)
    r = df.iloc[0]
    assert r["higher_arm"] == "sirolimus 6 mg weekly" and r["seed_lower"] != r["seed_higher"]
    assert r["n_per_arm"] == n_per_arm(r["delta_log"], r["sd_log"])
    assert r["p_higher"] == pytest.approx(r["p_higher_normal"], abs=0.04)
    # 1000 trials: Monte Carlo SE of a power of 0.8 is 0.013; allow 4 SE.
    assert r["power_simulated"] == pytest.approx(0.8, abs=0.055)


def test_identical_arms_overlap_by_one_half_within_monte_carlo_error():
    df = compare_arms(["sirolimus 5 mg weekly", "sirolimus 5 mg weekly"], "Cavg", n=500,
                      model=LINEAR, n_trials=10)
    # Different subjects in each arm: SE of the estimate is sqrt((2n+1)/(12 n^2)) ~ 0.018.
    assert df["p_higher"][0] == pytest.approx(0.5, abs=0.06)


def test_identical_arms_get_no_sample_size():
    """Before: two identical arms were sized at 953 or 13,545 per arm from Monte Carlo
    noise, depending on the seed."""
    r = compare_arms(["sirolimus 5 mg weekly", "sirolimus 5 mg weekly"], "AUC168", n=300,
                     model=LINEAR, n_trials=10, seed=2).iloc[0]
    assert r["same_regimen"] and not r["separable"]
    assert math.isinf(r["n_per_arm"]) and math.isnan(r["power_simulated"])


def test_a_difference_within_monte_carlo_error_is_not_separable():
    # Dose-linear model: the true difference of mean log AUC168 is log(5.05/5) = 0.00995,
    # its Monte Carlo SE with 300 subjects per arm about 0.5 sqrt(2/300) = 0.04.
    r = compare_arms(["sirolimus 5 mg weekly", "sirolimus 5.05 mg weekly"], "AUC168", n=300,
                     model=LINEAR, n_trials=10).iloc[0]
    low = simulate_population("sirolimus 5 mg weekly", 300, None, r["seed_lower"], LINEAR)[0]
    high = simulate_population("sirolimus 5.05 mg weekly", 300, None, r["seed_higher"],
                               LINEAR)[0]
    if r["lower_arm"] != "sirolimus 5 mg weekly":
        low, high = high, low
    lx, ly = np.log(high["auc168_ng_h_ml"]), np.log(low["auc168_ng_h_ml"])
    se = math.sqrt(lx.var(ddof=1) / 300 + ly.var(ddof=1) / 300)
    assert r["se_delta_log"] == pytest.approx(se, rel=1e-12)
    assert abs(r["delta_log"]) <= 1.96 * se
    assert not r["separable"] and not r["same_regimen"] and math.isinf(r["n_per_arm"])


def test_a_real_difference_gets_n_with_its_monte_carlo_interval():
    r = compare_arms(["sirolimus 5 mg weekly", "sirolimus 10 mg weekly"], "AUC168", n=300,
                     model=LINEAR, n_trials=200).iloc[0]
    z, d, se, sd = 1.96, r["delta_log"], r["se_delta_log"], r["sd_log"]
    assert r["separable"] and d > z * se
    assert r["n_per_arm_low"] == n_per_arm(d + z * se, sd)
    assert r["n_per_arm_high"] == n_per_arm(d - z * se, sd)
    assert r["n_per_arm_low"] <= r["n_per_arm"] <= r["n_per_arm_high"] < math.inf


def test_the_arms_command_says_not_separable_instead_of_a_size():
    res = _run("arms", "sirolimus 5 mg weekly", "sirolimus 5.05 mg weekly", "--n", "200",
               "--model", LINEAR, "--trials", "10")
    assert res.exit_code == 0, res.stderr
    assert "not separable: no real difference" in res.stdout
    assert "within the Monte Carlo error" in res.stdout and "power at that n" not in res.stdout
    res = _run("arms", "sirolimus 5 mg weekly", "sirolimus 5 mg weekly", "--n", "200",
               "--model", LINEAR, "--trials", "10")
    assert "not separable: both arms are the same regimen" in res.stdout


# --- window --------------------------------------------------------------------------------


def test_the_window_table_marks_feasible_schedules_and_the_pareto_front():
    df = therapeutic_window("sirolimus", mtorc1=0.6, spared=0.5, doses=(1.0, 4.0, 10.0),
                            intervals_days=(1, 7, 14), n=30, model=LINEAR)
    assert len(df) == 9
    np.testing.assert_array_equal(
        df["feasible"], (df["mtorc1_median"] >= 0.6) & (df["spared_fraction"] >= 0.5))
    for r in df.itertuples():  # a front point is dominated by no other schedule
        better = df[(df["mtorc1_median"] >= r.mtorc1_median)
                    & (df["spared_fraction"] >= r.spared_fraction)
                    & ((df["mtorc1_median"] > r.mtorc1_median)
                       | (df["spared_fraction"] > r.spared_fraction))]
        assert r.pareto == better.empty
    for _, g in df.groupby("interval_days"):  # more drug: more mTORC1, less sparing
        g = g.sort_values("dose_mg")
        assert np.all(np.diff(g["mtorc1_median"]) > 0)
        assert np.all(np.diff(g["spared_fraction"]) <= 0)


def test_window_can_ask_for_a_fraction_of_subjects_engaged_instead_of_the_median():
    df = therapeutic_window("sirolimus", mtorc1=0.6, spared=0.0, doses=(1.0, 4.0),
                            intervals_days=(7,), n=20, model=LINEAR, mtorc1_fraction=0.75)
    np.testing.assert_array_equal(df["feasible"], df["mtorc1_fraction"] >= 0.75)
    assert df["mtorc1_fraction"].between(0, 1).all()


def test_pareto_front_and_dose_grid():
    assert pareto_front([1, 2, 3, 2], [3, 2, 1, 1]).tolist() == [True, True, True, False]
    grid = dose_grid("sirolimus", 5, 10)
    assert grid[0] == 0.5 and grid[-1] == 10 and set(grid) <= set(tablet_doses("sirolimus", 5))
    assert np.all(np.array(grid[1:]) / np.array(grid[:-1]) >= 1.3 - 1e-9)


def test_window_rejects_bad_thresholds():
    with pytest.raises(PkdoseError, match="fraction"):
        therapeutic_window("sirolimus", mtorc1=50, n=5, model=LINEAR)
    with pytest.raises(PkdoseError, match="intervals"):
        therapeutic_window("sirolimus", intervals_days=(0,), n=5, model=LINEAR)


def test_every_dose_of_the_window_is_checked_before_any_schedule_is_simulated():
    # A dose beyond the one-dose limit was refused only after the schedules before it ran.
    done = []
    with pytest.raises(PkdoseError, match="limit on one dose"):
        therapeutic_window("sirolimus", doses=(1.0, 1e9), intervals_days=(1,), n=5,
                           model=LINEAR, progress=lambda k, total: done.append(k))
    assert done == []

# --- command line --------------------------------------------------------------------------


def _run(*args):
    return CliRunner().invoke(main, ["design", *args])


def test_find_dose_command_prints_root_tablets_and_evaluations():
    res = _run("find-dose", "--drug", "sirolimus", "--schedule", "weekly", "--target",
               "median Cavg=2", "--n", "100", "--model", LINEAR)
    assert res.exit_code == 0, res.stderr
    assert "continuous dose:" in res.stdout and "tablet below: sirolimus" in res.stdout
    assert "evaluations" in res.stdout and "not medical advice" in res.stderr


def test_arms_and_window_commands_run(tmp_path):
    res = _run("arms", "sirolimus 5 mg weekly", "sirolimus 10 mg weekly", "--n", "200",
               "--model", LINEAR, "--trials", "200")
    assert res.exit_code == 0, res.stderr
    assert "subjects per arm" in res.stdout
    png = tmp_path / "w.png"
    res = _run("window", "--drug", "sirolimus", "--doses", "1,5", "--intervals", "1,7",
               "--n", "20", "--model", LINEAR, "--plot", str(png), "--csv",
               str(tmp_path / "w.csv"))
    assert res.exit_code == 0, res.stderr
    assert "Pareto front" in res.stdout and png.stat().st_size > 10_000


@pytest.mark.parametrize("args", [
    ["find-dose", "--drug", "sirolimus", "--schedule", "weekly", "--target", "trough<3"],
    ["find-dose", "--drug", "aspirin", "--schedule", "weekly", "--target", "median cavg=2"],
    ["find-dose", "--drug", "sirolimus", "--schedule", "fortnightly-ish", "--target",
     "median cavg=2"],
    ["arms", "sirolimus 5 mg weekly"],
    ["arms", "sirolimus 5 mg weekly", "sirolimus 6 mg weekly", "--power", "1.5"],
    ["arms", "sirolimus 5 mg weekly", "sirolimus 6 mg weekly", "--metric", "colour"],
    # Before: an internal error (exit 3), the verdict labels read as numbers.
    ["arms", "sirolimus 5 mg weekly", "sirolimus 6 mg weekly", "--metric", "mtorc2 verdict"],
    ["window", "--drug", "sirolimus", "--intervals", "7-1"],
    ["window", "--drug", "sirolimus", "--doses", "1,x"],
])
def test_bad_design_input_exits_2_with_one_line(args):
    res = _run(*args, "--n", "5", "--model", LINEAR)
    assert res.exit_code == 2
    assert res.stderr.count("\n") <= 2 and "error:" in res.stderr  # notice + error line


def test_t_test_power_is_defined_at_large_separations():
    from scipy import stats

    from pkdose.design import t_test_power

    # scipy's noncentral t lower tail is NaN here (df 4, nc 12.2); the power is the upper
    # tail, which is finite and checked against 1 - cdf.
    df, nc = 4, 5.0 / (0.5 * (2 / 3) ** 0.5)
    upper = 1 - stats.nct.cdf(stats.t.ppf(0.975, df), df, nc)
    assert t_test_power(5.0, 0.5, 3) == pytest.approx(upper, abs=1e-12)
    powers = [t_test_power(d, 0.5, 3) for d in (0.5, 2.0, 5.0, 10.0, 40.0)]
    assert all(0 < p <= 1 for p in powers) and powers == sorted(powers)


def test_a_schedule_that_names_a_dose_is_refused_in_one_line():
    # It failed as "cannot read 'sirolimus 1 mg 1 mg daily'".
    from pkdose.design import schedule_regimen

    with pytest.raises(PkdoseError, match=r"^the schedule '1 mg daily' names a dose, which "
                                          r"the search finds; give the schedule alone"):
        schedule_regimen("sirolimus", "1 mg daily")
    assert str(schedule_regimen("sirolimus", "daily")) == "sirolimus 1 mg daily"


def test_a_statistic_is_named_by_its_metric_not_its_column():
    # find-dose printed 'median cavg_ng_ml 2.085' and 'p90 ctrough_ng_ml'.
    assert parse_dose_target("median Cavg=2").statistic == "median Cavg"
    assert parse_dose_target("trough<3", fraction=0.9).statistic == "p90 Ctrough"
