"""Regimen files (TOML) and NONMEM-style event tables: schema, round trips, errors."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from pkdose.errors import PkdoseError
from pkdose.regimen import Block, Dose, Regimen, compile_trains
from pkdose.regimen_io import (
    EVENT_COLUMNS,
    events_to_regimen,
    events_to_regimens,
    parse_regimen_toml,
    read_events_csv,
    read_regimen_file,
    read_regimen_toml,
    regimen_to_events,
    regimen_to_toml,
    write_events_csv,
    write_regimen_toml,
)
from pkdose.regimen_text import parse_regimen
from tests.test_regimen import regimens

EXAMPLES = [
    "rapamycin 1 mg daily",
    "sirolimus 6 mg loading then 2 mg daily",
    "everolimus 5 mg weekly for 6 weeks",
    "everolimus 0.75 mg twice daily",
    "rapamycin 2 mg daily 5 days on 9 days off",
    "everolimus 10 mg every 48 h",
    "sirolimus 1 mg q24h x 56",
    "rapamycin 0.1 mg/kg 3 times weekly",
    "everolimus 20 mg once weekly",
    "rapamycin 5 mg every Monday and Thursday",
    "rapamycin 6 mg weekly, 2 weeks on 2 weeks off",
    "everolimus 5 mg weekly for 4 weeks then 10 mg weekly",
    "sirolimus 1 mg daily every other month, starting at 8 h",
    "sirolimus 3 mg/m2 daily x 5 iv over 2 h then 1 mg weekly iv",
    "sirolimus 1 mg daily; at 12 h 5 mg once",
]


def toml_file(tmp_path, text: str, name: str = "regimen.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def events(rows: list[dict], **extra_columns) -> pd.DataFrame:
    """A hand-written event table in the form regimen_to_events writes."""
    base = {"ID": 1, "EVID": 1, "CMT": 1, "II": 0.0, "ADDL": 0, "RATE": 0.0, "SS": 0}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df = df.astype({"TIME": float, "AMT": float, "II": float, "RATE": float})
    for col, value in extra_columns.items():
        df[col] = value
    return df[[*EVENT_COLUMNS, *extra_columns]]


# ---------------------------------------------------------------------------------------
# TOML
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", EXAMPLES)
def test_toml_written_by_pkdose_reads_back_to_the_same_regimen(tmp_path, text):
    reg = parse_regimen(text)
    path = tmp_path / "r.toml"
    write_regimen_toml(reg, path)
    assert read_regimen_toml(path) == reg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regimens())
def test_any_valid_regimen_survives_toml(reg):
    text = regimen_to_toml(reg)
    tomllib.loads(text)  # valid TOML for any reader
    assert parse_regimen_toml(text).regimen == reg


def test_toml_starts_with_the_canonical_text_as_a_comment():
    text = regimen_to_toml(parse_regimen("sirolimus 6 mg loading then 2 mg daily"))
    assert text.splitlines()[0] == "# sirolimus 6 mg loading then 2 mg daily"


def test_name_description_start_labels_and_metadata_tables_are_kept(tmp_path):
    reg = Regimen(
        "everolimus",
        (Block(Dose(10.0), label="loading"), Block(Dose(5.0), interval_h=24.0)),
        start_h=8.0,
        name="RAD001 loading",
    )
    metadata = {
        "source": {
            "citation": 'O\'Donnell A et al. "Phase I" study. J Clin Oncol 2008;26:1588',
            "doi": "10.1200/JCO.2007.14.0988",
            "pages": [1588, 1595],
            "table": {"number": 2, "note": "line 1\nline 2"},
            "row": [{"arm": "A"}, {"arm": "B"}],
        },
        "reference": [{"id": 1}, {"id": 2}],
    }
    path = tmp_path / "r.toml"
    write_regimen_toml(reg, path, description="Ünïcode ok", metadata=metadata)
    doc = read_regimen_file(path)
    assert doc.regimen == reg
    assert doc.regimen.name == "RAD001 loading"
    assert doc.regimen.blocks[0].label == "loading"
    assert doc.description == "Ünïcode ok"
    assert doc.metadata == metadata


def test_a_regimen_can_be_given_as_text_with_or_without_the_drug_name(tmp_path):
    expected = parse_regimen("sirolimus 6 mg loading then 2 mg daily")
    for text in ("sirolimus 6 mg loading then 2 mg daily", "6 mg loading then 2 mg daily",
                 "Rapamune 6 mg loading then 2 mg daily"):  # fmt: skip
        path = toml_file(tmp_path, f'drug = "rapamycin"\nregimen = "{text}"\n')
        assert read_regimen_toml(path) == expected


def test_a_start_time_key_applies_to_a_text_regimen(tmp_path):
    path = toml_file(tmp_path, 'drug = "sirolimus"\nstart_h = 8\nregimen = "1 mg daily"\n')
    assert read_regimen_toml(path).start_h == 8.0


def test_block_tables_with_defaults(tmp_path):
    path = toml_file(
        tmp_path,
        """
drug = "sirolimus"

[[block]]
amount = 6

[[block]]
amount = 2
weekdays = ["thu", "Monday"]
n_doses = 4

[[block]]
amount = 1
unit = "mg/m2"
route = "infusion"
infusion_h = 0.5
interval_h = 24
at_h = 1000
""",
    )
    assert read_regimen_toml(path) == Regimen(
        "sirolimus",
        (
            Block(Dose(6.0)),
            Block(Dose(2.0), weekdays=(0, 3), n_doses=4),
            Block(Dose(1.0, "mg/m2", "infusion", 0.5), interval_h=24.0, at_h=1000.0),
        ),
    )


TOML_ERRORS = [
    ("", "missing key 'drug'"),
    ('drug = "sirolimus"\n', "give either regimen"),
    ('drug = "sirolimus"\nregimen = "1 mg daily"\n[[block]]\namount = 1\n', "not both"),
    ('regimen = "sirolimus 1 mg daily"\n', "missing key 'drug'"),
    ('drug = "tacrolimus"\nregimen = "1 mg daily"\n', "key 'drug': unknown drug 'tacrolimus'"),
    ("drug = 3\nregimen = \"1 mg daily\"\n", "key 'drug' must be a string, got an integer"),
    ('drug = "sirolimus"\nregimen = "1 mgs daily"\n', "key 'regimen': cannot read"),
    ('drug = "sirolimus"\nregimen = "everolimus 1 mg daily"\n', "is for everolimus"),
    ('drug = "sirolimus"\nregimen = 5\n', "key 'regimen' must be a string"),
    ('drug = "sirolimus"\ndose = "1 mg"\nregimen = "1 mg daily"\n', "unknown key 'dose'"),
    ('drug = "sirolimus"\nstart_h = "8 h"\nregimen = "1 mg daily"\n', "key 'start_h' must be"),
    ('drug = "sirolimus"\nstart_h = 1\nregimen = "1 mg daily starting at 2 h"\n', "both give"),
    ('drug = "sirolimus"\n[block]\namount = 1\n', "must be an array of tables: write [[block]]"),
    ('drug = "sirolimus"\nblock = []\n', "key 'block' is empty"),
    ('drug = "sirolimus"\n[[block]]\nunit = "mg"\n', "missing key 'block[1].amount'"),
    ('drug = "sirolimus"\n[[block]]\namount = "2 mg"\n', "key 'block[1].amount' must be a number"),
    ('drug = "sirolimus"\n[[block]]\namount = true\n', "must be a number, got a boolean"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\nintervl_h = 24\n',
     "unknown key 'block[1].intervl_h' (did you mean 'interval_h'?)"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\ninterval_h = 24\nn_doses = 2.0\n',
     "'block[1].n_doses' must be a whole number"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\nweekdays = "Mon"\n', "array of day names"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\nweekdays = ["Mon", "Funday"]\n', "'Funday'"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\nweekdays = ["Mon", "monday"]\n', "Mon twice"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\nunit = "g"\n', "block[1]: unknown dose unit"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\n[[block]]\namount = -1\n',
     "block[2]: dose amount must be positive"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\ninterval_h = 24\non_h = inf\noff_h = 1\n',
     "must both be positive"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\ninterval_h = 24\n[[block]]\namount = 2\n',
     "only the last part"),
    ("drug = 'sirolimus'\nregimen = \n", "invalid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), TOML_ERRORS, ids=[m for _, m in TOML_ERRORS])
def test_schema_errors_name_the_file_and_the_key(tmp_path, content, message):
    path = toml_file(tmp_path, content)
    with pytest.raises(PkdoseError) as err:
        read_regimen_toml(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_regimen_file_is_named(tmp_path):
    with pytest.raises(PkdoseError, match=r"regimen file .*nope\.toml not found"):
        read_regimen_toml(tmp_path / "nope.toml")
    with pytest.raises(PkdoseError, match="is a directory"):
        read_regimen_toml(tmp_path)


def test_metadata_cannot_reuse_a_regimen_key():
    with pytest.raises(PkdoseError, match="reserved"):
        regimen_to_toml(parse_regimen("sirolimus 1 mg daily"), metadata={"block": {}})


# ---------------------------------------------------------------------------------------
# Event tables: what is written
# ---------------------------------------------------------------------------------------


def test_loading_then_daily_is_a_single_dose_row_and_an_endless_train_row():
    ev = regimen_to_events(parse_regimen("sirolimus 6 mg loading then 2 mg daily"))
    expected = events(
        [dict(TIME=0, AMT=6), dict(TIME=24, AMT=2, II=24.0, ADDL=-1)], DRUG="sirolimus"
    )
    pd.testing.assert_frame_equal(ev, expected)


def test_a_cycle_is_one_row_per_dose_of_the_cycle():
    ev = regimen_to_events(parse_regimen("sirolimus 2 mg daily x 10, 5 days on 9 days off"))
    assert ev[["TIME", "II", "ADDL"]].values.tolist() == [
        [0, 336, 1], [24, 336, 1], [48, 336, 1], [72, 336, 1], [96, 336, 1]
    ]  # fmt: skip


def test_iv_goes_to_the_central_compartment_and_infusions_carry_a_rate():
    ev = regimen_to_events(
        parse_regimen("sirolimus 4 mg once iv then 3 mg daily x 2 iv over 2 h then 1 mg weekly"),
        id=7,
    )
    expected = events(
        [
            dict(ID=7, TIME=0, AMT=4, CMT=2),
            dict(ID=7, TIME=24, AMT=3, CMT=2, II=24.0, ADDL=1, RATE=1.5),
            dict(ID=7, TIME=72, AMT=1, II=168.0, ADDL=-1),
        ],
        DRUG="sirolimus",
    )
    pd.testing.assert_frame_equal(ev, expected)


def test_a_unit_column_appears_only_for_weight_or_area_based_doses():
    assert "UNIT" not in regimen_to_events(parse_regimen("sirolimus 1 mg daily")).columns
    ev = regimen_to_events(parse_regimen("sirolimus 3 mg/m2 once then 1 mg daily"))
    assert ev["UNIT"].tolist() == ["mg/m2", "mg"]
    assert list(ev.columns) == [*EVENT_COLUMNS, "UNIT", "DRUG"]


def test_a_duration_column_appears_only_when_amt_over_rate_is_not_exact():
    assert "DUR" not in regimen_to_events(parse_regimen("sirolimus 1 mg daily iv over 3 h"))
    # 1 / (1 / 3.2467019657954057) is 3.246701965795406, not the duration given.
    odd = Regimen("sirolimus", (Block(Dose(1.0, "mg", "infusion", 3.2467019657954057)),))
    ev = regimen_to_events(odd)
    assert ev["DUR"].tolist() == [3.2467019657954057]
    assert list(ev.columns) == [*EVENT_COLUMNS, "DUR", "DRUG"]
    assert compile_trains(events_to_regimen(ev)) == compile_trains(odd)


def test_until_h_writes_a_finite_table_nonmem_can_run():
    reg = parse_regimen("sirolimus 6 mg loading then 2 mg daily")
    ev = regimen_to_events(reg, until_h=7 * 24)
    assert ev[["TIME", "AMT", "II", "ADDL"]].values.tolist() == [[0, 6, 0, 0], [24, 2, 24, 5]]
    assert (ev["ADDL"] >= 0).all()
    assert len(regimen_to_events(reg, until_h=1)) == 1
    ev = regimen_to_events(parse_regimen("sirolimus 2 mg daily 5 days on 9 days off"), until_h=400)
    # Doses before 400 h: days 0-4, then days 14, 15, 16 (336, 360, 384 h).
    assert ev[["TIME", "ADDL"]].values.tolist() == [[0, 1], [24, 1], [48, 1], [72, 0], [96, 0]]
    assert ev["II"].tolist() == [336.0, 336.0, 336.0, 0.0, 0.0]


# ---------------------------------------------------------------------------------------
# Event tables: round trips
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", EXAMPLES)
def test_regimen_to_events_and_back_keeps_every_dose_and_the_table(text):
    reg = parse_regimen(text)
    ev = regimen_to_events(reg)
    back = events_to_regimen(ev)
    assert compile_trains(back) == compile_trains(reg)
    pd.testing.assert_frame_equal(regimen_to_events(back), ev)


@pytest.mark.parametrize(
    "text",
    [
        "sirolimus 6 mg loading then 2 mg daily",
        "everolimus 5 mg weekly x 4 then 10 mg weekly",
        "sirolimus 1 mg daily x 56",
        "sirolimus 15 mg once then 5 mg weekly x 3 then 2 mg every 48 h",
    ],
)
def test_plain_sequences_come_back_as_the_same_regimen(text):
    reg = parse_regimen(text)
    assert events_to_regimen(regimen_to_events(reg)) == reg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regimens(max_blocks=3))
def test_any_valid_regimen_survives_events_both_ways(reg):
    ev = regimen_to_events(reg)
    back = events_to_regimen(ev)
    assert compile_trains(back) == compile_trains(reg)
    ev2 = regimen_to_events(back)
    pd.testing.assert_frame_equal(ev2, ev)
    assert events_to_regimen(ev2) == back


def test_overlapping_and_gapped_rows_come_back_unchanged():
    table = events(
        [
            dict(TIME=0, AMT=2, II=24.0, ADDL=13),
            dict(TIME=12, AMT=5),  # during the daily train
            dict(TIME=500, AMT=1, CMT=2, II=12.0, ADDL=-1, RATE=0.5),  # after a gap
            dict(TIME=500, AMT=3, CMT=2),  # same time as the previous row
        ],
        DRUG="everolimus",
    )
    reg = events_to_regimen(table)
    assert [b.at_h for b in reg.blocks] == [None, 12.0, 500.0, 500.0]
    pd.testing.assert_frame_equal(regimen_to_events(reg), table)
    assert str(reg) == (
        "everolimus 2 mg daily x 14; at 12 h 5 mg once; at 500 h 1 mg twice daily iv over 2 h; "
        "at 500 h 3 mg once iv"
    )


@pytest.mark.parametrize(
    "table",
    [
        events([dict(TIME=0, AMT=6), dict(TIME=24, AMT=2, II=24.0, ADDL=-1)], DRUG="sirolimus"),
        events(
            [dict(TIME=0, AMT=0.1, II=168.0, ADDL=3), dict(TIME=48, AMT=3, CMT=2)],
            UNIT=["mg/kg", "mg/m2"],
            DRUG="everolimus",
        ),
        events([dict(TIME=8, AMT=1, CMT=2, II=12.0, ADDL=-1, RATE=4.0)], DRUG="sirolimus"),
        events(
            [dict(TIME=0, AMT=1, CMT=2, II=24.0, ADDL=1, RATE=1 / 3.2467019657954057)],
            DUR=[3.2467019657954057],
            DRUG="sirolimus",
        ),
    ],
)
def test_hand_written_tables_survive_events_to_regimen_to_events(table):
    pd.testing.assert_frame_equal(regimen_to_events(events_to_regimen(table)), table)


def test_a_first_dose_after_time_zero_is_anchored_at_its_time():
    reg = events_to_regimen(events([dict(TIME=30, AMT=1, II=24.0, ADDL=2)]), drug="sirolimus")
    assert reg.blocks[0].at_h == 30.0
    assert [t.t0_h for t in compile_trains(reg)] == [30.0]


def test_csv_round_trip_is_exact(tmp_path):
    reg = parse_regimen(
        "sirolimus 0.1 mg/kg 3 times weekly x 7 then 0.3 mg every 7 h iv over 0.7 h"
    )
    path = tmp_path / "events.csv"
    write_events_csv(reg, path, id=3)
    table = read_events_csv(path)
    pd.testing.assert_frame_equal(table, regimen_to_events(reg, id=3))
    assert compile_trains(events_to_regimen(table, source=str(path))) == compile_trains(reg)
    write_events_csv(table, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text() == path.read_text()


# ---------------------------------------------------------------------------------------
# Event tables: reading other people's tables
# ---------------------------------------------------------------------------------------


def test_columns_are_case_insensitive_and_extra_columns_and_observations_are_ignored():
    table = pd.DataFrame(
        {
            "id": [1, 1, 1, 1],
            "time": [0, 0.5, 24, 48],
            "amt": [6, np.nan, 2, 0],
            "evid": [1, 0, 1, 2],
            "dv": [np.nan, 12.3, np.nan, np.nan],
            "mdv": [1, 0, 1, 1],
            "ii": [0, 0, 24, 0],
            "addl": [0, 0, -1, 0],
            "WT": [70, 70, 70, 70],
        }
    )
    assert events_to_regimen(table, drug="rapamycin") == parse_regimen(
        "sirolimus 6 mg loading then 2 mg daily"
    )


def test_without_evid_rows_with_an_amount_are_doses():
    table = pd.DataFrame({"TIME": [0, 1, 24], "AMT": [5, np.nan, 5], "DV": [np.nan, 3.2, np.nan]})
    reg = events_to_regimen(table, drug="everolimus")
    assert [(t.t0_h, t.amount) for t in compile_trains(reg)] == [(0.0, 5.0), (24.0, 5.0)]


def test_rows_are_read_in_time_order():
    table = events([dict(TIME=24, AMT=2, II=24.0, ADDL=-1), dict(TIME=0, AMT=6)], DRUG="sirolimus")
    assert events_to_regimen(table) == parse_regimen("sirolimus 6 mg once then 2 mg daily")


def test_several_subjects_need_a_choice():
    table = pd.concat(
        [
            regimen_to_events(parse_regimen("sirolimus 1 mg daily"), id=1),
            regimen_to_events(parse_regimen("sirolimus 2 mg weekly"), id=2),
        ]
    )
    with pytest.raises(PkdoseError, match=r"has 2 subjects \(ID 1, 2\); choose one with id="):
        events_to_regimen(table)
    assert events_to_regimen(table, id=2) == parse_regimen("sirolimus 2 mg weekly")
    assert events_to_regimens(table) == {
        1: parse_regimen("sirolimus 1 mg daily"),
        2: parse_regimen("sirolimus 2 mg weekly"),
    }
    with pytest.raises(PkdoseError, match="has no ID 3"):
        events_to_regimen(table, id=3)


def test_the_drug_argument_is_used_when_there_is_no_drug_column():
    table = events([dict(TIME=0, AMT=1, II=24.0, ADDL=-1)])
    assert events_to_regimen(table, drug="RAD001").drug == "everolimus"


EVENT_ERRORS = [
    (pd.DataFrame({"TIME": [0]}), "event table has no AMT column; expected columns ID, TIME, AMT"),
    (pd.DataFrame({"AMT": [1]}), "event table has no TIME column"),
    (pd.DataFrame({"TIME": [0], "time": [1], "AMT": [1]}), "has two TIME columns"),
    (events([dict(TIME=0, AMT=1, EVID=4)]), "row 1: EVID 4 (reset and dose) is not supported"),
    (events([dict(TIME=0, AMT=1), dict(TIME=5, AMT=0, EVID=3)]), "row 2: EVID 3 (reset)"),
    (events([dict(TIME=0, AMT=1, EVID=9)]), "row 1: EVID 9 is not a dose"),
    (events([dict(TIME=0, AMT=1, CMT=2, RATE=-2)]), "RATE -2 (modelled duration) not supported"),
    (events([dict(TIME=0, AMT=1, CMT=2, RATE=-1)]), "RATE -1 (modelled rate) not supported"),
    (events([dict(TIME=0, AMT=1, CMT=2, RATE=-5)]), "RATE -5 must be 0"),
    (events([dict(TIME=0, AMT=1, SS=1, II=24.0)]), "SS=1 (steady state before TIME)"),
    (events([dict(TIME=0, AMT=1, CMT=3)]), "CMT 3 is not a pkdose compartment"),
    (events([dict(TIME=0, AMT=1, RATE=1.0)]), "an infusion (RATE > 0) goes into CMT 2"),
    (events([dict(TIME=0, AMT=1, ADDL=3)]), "ADDL 3 needs II > 0"),
    (events([dict(TIME=0, AMT=1, ADDL=-1)]), "ADDL -1 needs II > 0"),
    (events([dict(TIME=0, AMT=1, II=24.0, ADDL=1.5)]), "ADDL 1.5 must be a whole number"),
    (events([dict(TIME=0, AMT=1, II=24.0, ADDL=-2)]), "ADDL -2 must be a whole number"),
    (events([dict(TIME=np.inf, AMT=1)]), "row 1: TIME must be a finite number of hours"),
    (events([dict(TIME=np.nan, AMT=1)]), "row 1: TIME is missing"),
    (events([dict(TIME=0, AMT=np.nan)]), "row 1: AMT is missing"),
    (events([dict(TIME=0, AMT=-1)]), "row 1: dose amount must be positive"),
    (events([dict(TIME=0, AMT=5000)]), "row 1: a dose of 5000 mg is above the 1000 mg limit"),
    (events([dict(TIME=0, AMT=0, EVID=0)]), "has no dose rows"),
    (events([dict(TIME=0, AMT=1)], UNIT="g"), "row 1: UNIT 'g'"),
    (events([dict(TIME=0, AMT=1)], DRUG="aspirin"), "row 1: unknown drug 'aspirin'"),
    (events([dict(TIME=0, AMT=1)], DRUG=["sirolimus"]).assign(ID=[np.nan]), "ID is missing"),
    (events([dict(TIME=0, AMT=1), dict(TIME=1, AMT=1)], DRUG=["sirolimus", "everolimus"]),
     "mixes drugs (everolimus, sirolimus)"),
    (events([dict(TIME=0, AMT=1)]), "has no DRUG column; give the drug"),
    (events([dict(TIME=0, AMT=1, CMT=2, RATE=1.0)], DUR=[2.0]), "RATE 1 does not match AMT / DUR"),
    (events([dict(TIME=0, AMT=1, II=24.0, ADDL=-1),
             dict(TIME=5, AMT=1, II=24.123456789012345, ADDL=-1)]), "no common period"),
]  # fmt: skip


@pytest.mark.parametrize(("table", "message"), EVENT_ERRORS, ids=[m for _, m in EVENT_ERRORS])
def test_malformed_event_tables_are_explained_in_one_line(table, message):
    with pytest.raises(PkdoseError) as err:
        events_to_regimen(table, drug=None if "DRUG" in table or "drug" in message else "sirolimus")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_drug_argument_that_contradicts_the_drug_column_is_an_error():
    table = events([dict(TIME=0, AMT=1)], DRUG="sirolimus")
    with pytest.raises(PkdoseError, match="DRUG column says sirolimus, not everolimus"):
        events_to_regimen(table, drug="everolimus")


def test_csv_errors_name_the_file(tmp_path):
    with pytest.raises(PkdoseError, match=r"event table .*missing\.csv not found"):
        read_events_csv(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PkdoseError, match=r"empty\.csv is empty; expected columns"):
        read_events_csv(empty)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('TIME,AMT\n0,1\n1,2,3,4\n"unclosed\n')
    with pytest.raises(PkdoseError, match=r"cannot read event table .*ragged\.csv"):
        read_events_csv(ragged)
    no_amt = tmp_path / "no_amt.csv"
    no_amt.write_text("ID,TIME,DV\n1,0,.\n")
    with pytest.raises(PkdoseError, match=r"no_amt\.csv has no AMT column"):
        events_to_regimen(read_events_csv(no_amt), drug="sirolimus", source=str(no_amt))


def test_nonmem_dots_are_missing_values_in_csv(tmp_path):
    path = tmp_path / "nm.csv"
    path.write_text(
        "#ID,TIME,AMT,EVID,CMT,II,ADDL,RATE,SS,DV,MDV\n"
        "1,0,6,1,1,.,.,.,.,.,1\n"
        "1,2,.,0,1,.,.,.,.,12.1,0\n"
        "1,24,2,1,1,24,-1,0,0,.,1\n"
    )
    reg = events_to_regimen(read_events_csv(path), drug="sirolimus", source=str(path))
    assert reg == parse_regimen("sirolimus 6 mg loading then 2 mg daily")


def test_an_endless_train_is_written_with_addl_minus_one():
    ev = regimen_to_events(parse_regimen("sirolimus 1 mg daily"))
    assert ev.loc[0, "ADDL"] == -1
    assert math.isinf(compile_trains(events_to_regimen(ev))[0].n)


@pytest.mark.parametrize(
    "text",
    [
        "rapamycin 14 ppm diet",
        "rapamycin 42 ppm diet every other month",
        "rapamycin 126 ppm diet for 90 days",
        "rapamycin 2 mg/kg ip every 5 days",
        "rapamycin 1.5 mg/kg sc 3 times weekly, 2 weeks per month",
    ],
)
def test_animal_routes_survive_the_event_table_round_trip(text):
    reg = parse_regimen(text)
    events = regimen_to_events(reg)
    assert set(events["ROUTE"]) == {reg.blocks[0].dose.route}
    assert set(events["CMT"]) == {1}  # injections and food enter the depot
    assert compile_trains(events_to_regimen(events)) == compile_trains(reg)


def test_a_diet_row_is_one_days_food_infused_into_the_depot_over_24_h():
    row = regimen_to_events(parse_regimen("rapamycin 14 ppm diet")).iloc[0]
    assert (row["AMT"], row["UNIT"], row["II"], row["ADDL"]) == (14.0, "ppm", 24.0, -1)
    assert row["RATE"] == pytest.approx(14.0 / 24.0)
