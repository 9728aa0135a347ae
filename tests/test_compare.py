"""Side-by-side exposure: one row per regimen, steady state or first week, exact identities."""

from __future__ import annotations

import json

import pytest

from pkdose.comparison import compare
from pkdose.errors import PkdoseError
from pkdose.model import covariate_table, get_model, individual_parameters
from tests.conftest import exposure_row


def test_one_row_per_regimen_in_the_order_given():
    df = compare(["rapamycin 1 mg daily", "everolimus 5 mg weekly", "sirolimus 6 mg weekly"]).frame
    assert df["regimen"].tolist() == ["sirolimus 1 mg daily", "everolimus 5 mg weekly",
                                      "sirolimus 6 mg weekly"]
    assert df["model"].tolist() == ["wu2012", "terheine2018", "wu2012"]
    assert (df["basis"] == "steady state").all()


def test_indefinite_regimens_use_one_steady_state_cycle_and_finite_ones_the_first_week():
    df = compare(["sirolimus 2 mg daily 5 days on 9 days off", "sirolimus 5 mg weekly x 4"]).frame
    assert df["basis"].tolist() == ["steady state", "first week"]
    assert df["window_h"].tolist() == [336.0, 168.0]
    assert df["rac"].isna().tolist() == [False, True]


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
@pytest.mark.parametrize("model", ["dewit2016", "golubovic2019", "terheine2018"])
def test_steady_state_auc_per_week_equals_f_dose_over_cl_for_linear_models(model):
    m = get_model(model)
    p = individual_parameters(m, covariate_table())
    row = exposure_row(f"{m.drug} 2 mg twice daily", m)
    if m.blood == "langmuir_rbc":
        auc = row["plasma_cavg_ng_ml"] * 168  # the identity holds for plasma, the linear part
    else:
        auc = row["auc168_ng_h_ml"]
    expected = p["f"][0] * 2.0 * 14 / p["cl"][0] * 1000.0  # 14 doses a week, ng*h/mL
    assert auc == pytest.approx(expected, rel=1e-6)


def test_model_choice_applies_to_its_drug_only():
    df = compare(["sirolimus 1 mg daily", "everolimus 5 mg daily"], model="dewit2016").frame
    assert df["model"].tolist() == ["wu2012", "dewit2016"]


def test_accumulation_ratio_of_daily_dosing_matches_the_long_half_life():
    row = exposure_row("sirolimus 1 mg daily")
    # Terminal half-life ~50 h with a 24 h interval: 1/(1 - 2^(-24/50)) ~ 3.5 for the
    # terminal phase alone; distribution lowers it. It must lie between 1 and that bound.
    assert 1.5 < row["rac"] < 3.6


def test_a_window_summarises_the_transient_curve():
    first = exposure_row("sirolimus 1 mg daily", window_h=(0, 168))
    late = exposure_row("sirolimus 1 mg daily", window_h=(20 * 168, 21 * 168))
    ss = exposure_row("sirolimus 1 mg daily")
    assert first["basis"] == "window 0-168 h"
    assert first["cavg_ng_ml"] < late["cavg_ng_ml"]
    # After 20 weeks (~65 half-lives) a week of daily dosing is at steady state.
    assert late["cavg_ng_ml"] == pytest.approx(ss["cavg_ng_ml"], rel=1e-6)


def test_time_to_90_percent_of_steady_state_follows_the_half_life_and_the_loading_dose():
    plain = exposure_row("sirolimus 2 mg daily")
    loaded = exposure_row("sirolimus 6 mg loading then 2 mg daily")
    weekly = exposure_row("sirolimus 6 mg weekly")
    assert 72 <= plain["t90ss_h"] <= 240  # ~50 h terminal half-life, distribution first
    assert loaded["t90ss_h"] == 24.0  # the label's loading dose reaches it at once
    assert weekly["t90ss_h"] == 0.0  # little accumulation at a 7-day interval


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
def test_regimens_are_placed_among_the_references():
    from pkdose.comparison import parse_against, place

    user = compare(["sirolimus 6 mg weekly", "everolimus 10 mg daily"], with_pd=False)
    placed = place(user, parse_against("transplant,oncology,ageing"))
    refs = placed.references.frame
    assert {"kraig2018", "zortress-kidney", "afinitor-10mg-daily"} <= set(refs["reference"])
    assert not refs["reference"].str.contains("topical").any()  # no systemic exposure
    nearest = placed.nearest.set_index("regimen")
    # Identical regimens in the library are found at distance 0 with ratios of 1.
    assert nearest.loc["everolimus 10 mg daily", "reference"] == "afinitor-10mg-daily"
    assert nearest.loc["everolimus 10 mg daily", "log_distance"] == pytest.approx(0, abs=1e-9)
    assert nearest.loc["sirolimus 6 mg weekly", "AUC168_ratio"] == pytest.approx(1, rel=1e-9)
    # Ratios are user / reference; ciclosporin (maintenance at the label's 4-h stagger)
    # boosts the transplant reference 1.65-fold: 480 / 1120 = 0.43 without it, 0.26 with.
    r = placed.ratios.set_index(["regimen", "reference"])
    assert r.loc[("sirolimus 6 mg weekly", "rapamune-kidney-csa"), "AUC168_ratio"] < 0.3
    tg = placed.targets
    zort = tg[(tg["regimen"] == "everolimus 10 mg daily") & (tg["reference"] == "zortress-kidney")]
    assert set(zort["position"]) == {"above"}  # oncology trough ~12 ng/mL vs 3-8 / 6-10
    with pytest.raises(PkdoseError, match="unknown reference group"):
        parse_against("geriatrics")


# --- regressions: every subject, every window, every reference group -----------------------


def test_every_subject_gets_its_own_row_and_its_own_verdict():
    import pandas as pd

    subjects = pd.DataFrame({"weight_kg": [70.0, 70.0], "hct_pct": [30.0, 44.0]})
    df = compare(["sirolimus 6 mg weekly", "sirolimus 2 mg daily"], subjects=subjects).frame
    assert len(df) == 4 and df["id"].tolist() == [1, 2, 1, 2]
    # Wu 2012 has haematocrit on CL/F: the subjects differ, and so does their mTOR response.
    for _, g in df.groupby("regimen"):
        assert g["cavg_ng_ml"].iloc[0] != g["cavg_ng_ml"].iloc[1]
        assert g["mtorc2_mean"].iloc[0] != g["mtorc2_mean"].iloc[1]
        assert g["mtorc1_mean"].iloc[0] != g["mtorc1_mean"].iloc[1]
    # Each subject's row equals that subject run alone.
    for i, hct in enumerate((30.0, 44.0)):
        alone = exposure_row("sirolimus 6 mg weekly", subjects={"hct_pct": hct})
        row = df[(df["regimen"] == "sirolimus 6 mg weekly")].iloc[i]
        for col in ("cavg_ng_ml", "mtorc1_mean", "mtorc2_mean", "mtorc2_verdict"):
            assert row[col] == (alone[col] if isinstance(alone[col], str)
                                else pytest.approx(alone[col], rel=1e-12))


def test_a_window_changes_the_mtor_columns_too():
    ss = exposure_row("sirolimus 1 mg daily")
    early = exposure_row("sirolimus 1 mg daily", window_h=(0, 12))
    late = exposure_row("sirolimus 1 mg daily", window_h=(20 * 168, 20 * 168 + 24))
    assert early["basis"] == "window 0-12 h"
    # The first 12 h start drug free: less mTORC1 inhibition, more mTORC2 than at steady state.
    assert early["mtorc1_mean"] < ss["mtorc1_mean"] - 0.1
    assert early["mtorc2_mean"] > ss["mtorc2_mean"] + 0.1
    # After 20 weeks a day of dosing is one steady-state cycle, PD included.
    assert late["mtorc1_mean"] == pytest.approx(ss["mtorc1_mean"], abs=1e-3)
    assert late["mtorc2_mean"] == pytest.approx(ss["mtorc2_mean"], abs=1e-3)


def test_hours_above_are_per_week_for_daily_and_weekly_cycles():
    daily = exposure_row("sirolimus 1 mg daily")
    weekly = exposure_row("sirolimus 6 mg weekly")
    assert "t_above_3_h" not in daily.index
    assert daily["window_h"] == 24.0 and weekly["window_h"] == 168.0
    # A daily cycle's hours above 3 ng/mL, seven times: at most the 168 h of a week.
    assert 0 < daily["t_above_3_h_per_week"] <= 168.0
    assert daily["t_above_1_h_per_week"] == pytest.approx(168.0)  # trough 2.1 ng/mL


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
@pytest.mark.parametrize("group", ["transplant", "oncology", "tsc", "lam", "ageing", "all"])
@pytest.mark.parametrize("regimen", ["sirolimus 6 mg weekly", "everolimus 5 mg weekly"])
def test_every_reference_group_alone_places_both_drugs(group, regimen):
    from pkdose.comparison import parse_against, place

    placed = place(compare([regimen], with_pd=False), parse_against(group))
    for frame in (placed.references.frame, placed.ratios, placed.nearest, placed.targets):
        assert "regimen" in frame.columns  # columns even when empty
    assert set(placed.references.frame["drug"]) <= {regimen.split()[0]}
    assert len(placed.nearest) == (1 if len(placed.references) else 0)
    assert placed.to_text()
    json.dumps(placed.to_dict())


def test_trial_arms_are_references_of_their_own():
    from pkdose.comparison import reference_table

    refs = reference_table(("ageing-trial",), ("everolimus",)).frame
    assert {"mannick2014/ev-0-5mg-daily", "mannick2014/ev-5mg-weekly",
            "mannick2014/ev-20mg-weekly"} <= set(refs["reference"])


def test_typed_table_renders_the_same_numbers_everywhere():
    table = compare(["sirolimus 6 mg weekly", "sirolimus 1 mg daily for 3 days"])
    wide, long = table.to_frame(), table.to_long()
    cavg = long[(long["metric"] == "Cavg")]["value"].tolist()
    assert cavg == wide["cavg_ng_ml"].tolist()
    rows = json.loads(table.to_json())["rows"]
    assert [r["cavg_ng_ml"] for r in rows] == pytest.approx(cavg, rel=1e-9)
    text = table.to_text()
    assert f"{wide['cavg_ng_ml'][0]:.3g}" in text
    assert "nan" not in text.lower() and "n/a" not in text.split("\n")[2]


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
def test_a_regimen_given_twice_is_placed_once_and_subjects_one_at_a_time():
    import pandas as pd

    from pkdose.comparison import parse_against, place

    once = place(compare(["sirolimus 6 mg weekly"], with_pd=False), parse_against("transplant"))
    twice = place(compare(["sirolimus 6 mg weekly"] * 2, with_pd=False),
                  parse_against("transplant"))
    # The trough lines were listed twice under the one regimen.
    assert twice.lines("sirolimus 6 mg weekly") == once.lines("sirolimus 6 mg weekly")
    assert len(twice.ratios) == len(once.ratios)
    # Two subjects were paired with each other's references (subject 1 / subject 2 ratios).
    two = pd.DataFrame({"hct_pct": [30.0, 44.0]})
    with pytest.raises(PkdoseError, match="one subject at a time"):
        place(compare(["sirolimus 6 mg weekly"], subjects=two, with_pd=False),
              parse_against("transplant"))
    with pytest.raises(PkdoseError, match="one subject at a time"):
        place(compare(["sirolimus 6 mg weekly"], with_pd=False), parse_against("transplant"),
              subjects=two)


def test_a_reference_file_with_arms_gives_every_arm():
    # compare, flag, population and design read only the file's top-level regimen (1 of
    # mannick2014's 3 arms) without a word; report already read every arm.
    from pathlib import Path

    from pkdose.simulation import as_regimen, load_regimens

    library = Path(__file__).resolve().parent.parent / "regimens"
    path = str(library / "mannick2014.toml")
    regs = load_regimens(path)
    assert [str(r) for r in regs] == ["everolimus 0.5 mg daily for 6 weeks",
                                      "everolimus 5 mg weekly for 6 weeks",
                                      "everolimus 20 mg weekly for 6 weeks"]
    with pytest.raises(PkdoseError, match="holds 3 regimens; give one"):
        as_regimen(path)
    assert len(load_regimens(str(library / "afinitor-10mg-daily.toml"))) == 1  # no [[arm]]
