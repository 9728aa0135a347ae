"""Side-by-side exposure: one row per regimen, steady state or first week, exact identities."""

from __future__ import annotations

import pytest

from pkdose.compare import compare, regimen_exposure
from pkdose.errors import PkdoseError
from pkdose.model import covariate_table, get_model, individual_parameters


def test_one_row_per_regimen_in_the_order_given():
    df = compare(["rapamycin 1 mg daily", "everolimus 5 mg weekly", "sirolimus 6 mg weekly"])
    assert df["regimen"].tolist() == ["sirolimus 1 mg daily", "everolimus 5 mg weekly",
                                      "sirolimus 6 mg weekly"]
    assert df["model"].tolist() == ["wu2012", "terheine2018", "wu2012"]
    assert (df["basis"] == "steady state").all()


def test_indefinite_regimens_use_one_steady_state_cycle_and_finite_ones_the_first_week():
    df = compare(["sirolimus 2 mg daily 5 days on 9 days off", "sirolimus 5 mg weekly x 4"])
    assert df["basis"].tolist() == ["steady state", "first week"]
    assert df["window_h"].tolist() == [336.0, 168.0]
    assert df["rac"].isna().tolist() == [False, True]


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
@pytest.mark.parametrize("model", ["dewit2016", "golubovic2019", "terheine2018"])
def test_steady_state_auc_per_week_equals_f_dose_over_cl_for_linear_models(model):
    m = get_model(model)
    p = individual_parameters(m, covariate_table())
    row = regimen_exposure(f"{m.drug} 2 mg twice daily", m).iloc[0]
    if m.blood == "langmuir_rbc":
        auc = row["plasma_cavg_ng_ml"] * 168  # the identity holds for plasma, the linear part
    else:
        auc = row["auc168_ng_h_ml"]
    expected = p["f"][0] * 2.0 * 14 / p["cl"][0] * 1000.0  # 14 doses a week, ng*h/mL
    assert auc == pytest.approx(expected, rel=1e-6)


def test_model_choice_applies_to_its_drug_only():
    df = compare(["sirolimus 1 mg daily", "everolimus 5 mg daily"], model="dewit2016")
    assert df["model"].tolist() == ["wu2012", "dewit2016"]


def test_accumulation_ratio_of_daily_dosing_matches_the_long_half_life():
    row = regimen_exposure("sirolimus 1 mg daily").iloc[0]
    # Terminal half-life ~50 h with a 24 h interval: 1/(1 - 2^(-24/50)) ~ 3.5 for the
    # terminal phase alone; distribution lowers it. It must lie between 1 and that bound.
    assert 1.5 < row["rac"] < 3.6


def test_a_window_summarises_the_transient_curve():
    first = regimen_exposure("sirolimus 1 mg daily", window_h=(0, 168)).iloc[0]
    late = regimen_exposure("sirolimus 1 mg daily", window_h=(20 * 168, 21 * 168)).iloc[0]
    ss = regimen_exposure("sirolimus 1 mg daily").iloc[0]
    assert first["basis"] == "window 0-168 h"
    assert first["cavg_ng_ml"] < late["cavg_ng_ml"]
    # After 20 weeks (~65 half-lives) a week of daily dosing is at steady state.
    assert late["cavg_ng_ml"] == pytest.approx(ss["cavg_ng_ml"], rel=1e-6)


def test_time_to_90_percent_of_steady_state_follows_the_half_life_and_the_loading_dose():
    plain = regimen_exposure("sirolimus 2 mg daily").iloc[0]
    loaded = regimen_exposure("sirolimus 6 mg loading then 2 mg daily").iloc[0]
    weekly = regimen_exposure("sirolimus 6 mg weekly").iloc[0]
    assert 72 <= plain["t90ss_h"] <= 240  # ~50 h terminal half-life, distribution first
    assert loaded["t90ss_h"] == 24.0  # the label's loading dose reaches it at once
    assert weekly["t90ss_h"] == 0.0  # little accumulation at a 7-day interval


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
def test_regimens_are_placed_among_the_references():
    from pkdose.compare import against, parse_against

    user = compare(["sirolimus 6 mg weekly", "everolimus 10 mg daily"], with_pd=False)
    placed = against(user, parse_against("transplant,oncology,ageing"))
    refs = placed["references"]
    assert {"kraig2018", "zortress-kidney", "afinitor-10mg-daily"} <= set(refs["reference"])
    assert not refs["reference"].str.contains("topical").any()  # no systemic exposure
    nearest = placed["nearest"].set_index("regimen")
    # Identical regimens in the library are found at distance 0 with ratios of 1.
    assert nearest.loc["everolimus 10 mg daily", "reference"] == "afinitor-10mg-daily"
    assert nearest.loc["everolimus 10 mg daily", "log_distance"] == pytest.approx(0, abs=1e-9)
    assert nearest.loc["sirolimus 6 mg weekly", "AUC168_ratio"] == pytest.approx(1, rel=1e-9)
    # Ratios are user / reference; ciclosporin boosts the transplant reference ~3-fold.
    r = placed["ratios"].set_index(["regimen", "reference"])
    assert r.loc[("sirolimus 6 mg weekly", "rapamune-kidney-csa"), "AUC168_ratio"] < 0.2
    tg = placed["targets"]
    zort = tg[(tg["regimen"] == "everolimus 10 mg daily") & (tg["reference"] == "zortress-kidney")]
    assert set(zort["position"]) == {"above"}  # oncology trough ~12 ng/mL vs 3-8 / 6-10
    with pytest.raises(PkdoseError, match="unknown reference group"):
        parse_against("geriatrics")
