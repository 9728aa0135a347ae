"""Regimen text: what each phrase means, the canonical form, and the error messages."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkdose.drugs import drug_aliases, resolve_drug
from pkdose.errors import PkdoseError
from pkdose.regimen import HOURS_PER_MONTH, Block, Dose, Regimen
from pkdose.regimen_text import format_block, format_regimen, parse_regimen, times_weekly_days
from tests.test_regimen import regimens

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def only_block(text: str) -> Block:
    (block,) = parse_regimen(text).blocks
    return block


def regimen(drug: str, *blocks: Block, start_h: float = 0.0) -> Regimen:
    return Regimen(drug, tuple(blocks), start_h)


# ---------------------------------------------------------------------------------------
# The documented examples: expected object and canonical text
# ---------------------------------------------------------------------------------------

EXAMPLES = [
    (
        "rapamycin 1 mg daily",
        regimen("sirolimus", Block(Dose(1.0), interval_h=24.0)),
        "sirolimus 1 mg daily",
    ),
    (
        "sirolimus 6 mg loading then 2 mg daily",
        regimen("sirolimus", Block(Dose(6.0)), Block(Dose(2.0), interval_h=24.0)),
        "sirolimus 6 mg loading then 2 mg daily",
    ),
    (
        "everolimus 5 mg weekly for 6 weeks",
        regimen("everolimus", Block(Dose(5.0), interval_h=168.0, duration_h=1008.0)),
        "everolimus 5 mg weekly for 6 weeks",
    ),
    (
        "everolimus 0.75 mg twice daily",
        regimen("everolimus", Block(Dose(0.75), interval_h=12.0)),
        "everolimus 0.75 mg twice daily",
    ),
    (
        "rapamycin 2 mg daily 5 days on 9 days off",
        regimen("sirolimus", Block(Dose(2.0), interval_h=24.0, on_h=120.0, off_h=216.0)),
        "sirolimus 2 mg daily, 5 days on 9 days off",
    ),
    (
        "everolimus 10 mg every 48 h",
        regimen("everolimus", Block(Dose(10.0), interval_h=48.0)),
        "everolimus 10 mg every 48 h",
    ),
    (
        "sirolimus 1 mg q24h x 56",
        regimen("sirolimus", Block(Dose(1.0), interval_h=24.0, n_doses=56)),
        "sirolimus 1 mg daily x 56",
    ),
    (
        "rapamycin 0.1 mg/kg 3 times weekly",
        regimen("sirolimus", Block(Dose(0.1, "mg/kg"), weekdays=(MON, WED, FRI))),
        "sirolimus 0.1 mg/kg Mon/Wed/Fri",
    ),
    (
        "everolimus 20 mg once weekly",
        regimen("everolimus", Block(Dose(20.0), interval_h=168.0)),
        "everolimus 20 mg weekly",
    ),
    (
        "rapamycin 5 mg every Monday and Thursday",
        regimen("sirolimus", Block(Dose(5.0), weekdays=(MON, THU))),
        "sirolimus 5 mg Mon/Thu",
    ),
    (
        "rapamycin 6 mg weekly, 2 weeks on 2 weeks off",
        regimen("sirolimus", Block(Dose(6.0), interval_h=168.0, on_h=336.0, off_h=336.0)),
        "sirolimus 6 mg weekly, 2 weeks on 2 weeks off",
    ),
    (
        "everolimus 5 mg weekly for 4 weeks then 10 mg weekly",
        regimen(
            "everolimus",
            Block(Dose(5.0), interval_h=168.0, duration_h=672.0),
            Block(Dose(10.0), interval_h=168.0),
        ),
        "everolimus 5 mg weekly for 4 weeks then 10 mg weekly",
    ),
]


@pytest.mark.parametrize(("text", "expected", "canonical"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_each_documented_example_parses_to_the_expected_regimen(text, expected, canonical):
    assert parse_regimen(text) == expected


@pytest.mark.parametrize(("text", "expected", "canonical"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_each_documented_example_has_its_canonical_text(text, expected, canonical):
    assert format_regimen(parse_regimen(text)) == canonical
    assert str(expected) == canonical
    assert parse_regimen(canonical) == expected


def test_case_spaces_and_commas_do_not_matter():
    expected = parse_regimen("sirolimus 6 mg loading then 2 mg daily")
    assert parse_regimen("  SIROLIMUS   6MG,  Loading ,THEN 2 Mg DAILY. ") == expected
    assert parse_regimen("sirolimus\n6 mg loading\nthen\t2 mg daily") == expected


def test_the_loading_dose_is_labelled_but_labels_do_not_affect_equality():
    reg = parse_regimen("sirolimus loading dose 6 mg then 2 mg daily")
    assert reg.blocks[0].label == "loading"
    assert reg == parse_regimen("sirolimus 6 mg once then 2 mg daily")


# ---------------------------------------------------------------------------------------
# Synonyms
# ---------------------------------------------------------------------------------------

INTERVAL_SYNONYMS = {
    24.0: ["daily", "qd", "QD", "od", "q.d.", "once daily", "once a day", "once per day",
           "every day", "each day", "q24h", "q24 h", "q 24 h", "Q24H", "every 24 hours",
           "every 24 h", "every 24 hrs", "every 24 hr", "every 1 day", "per day", "a day",
           "1 time daily", "7 times weekly", "7 times per week", "nightly"],
    12.0: ["bid", "BID", "b.i.d.", "twice daily", "twice a day", "twice per day", "q12h",
           "Q12H", "every 12 hours", "2 times daily", "two times a day", "2x daily",
           "2 times per day"],
    8.0: ["tid", "TID", "t.i.d.", "three times daily", "three times a day", "thrice daily",
          "3 times daily", "q8h", "Q8H", "every 8 h"],
    6.0: ["qid", "QID", "q.i.d.", "four times daily", "4 times a day", "q6h", "Q6H"],
    4.0: ["q4h", "Q4H", "every 4 hours", "6 times daily"],
    48.0: ["qod", "QOD", "every other day", "every second day", "Q2D", "q2d", "every 2 days",
           "every 48 h", "q48h"],
    72.0: ["Q3D", "every 3 days", "q72h"],
    168.0: ["weekly", "once weekly", "qw", "QW", "q7d", "every week", "EVERY WEEK",
            "once a week", "once per week", "q1w", "1 time per week", "every 7 days",
            "once every week", "per week"],
    336.0: ["Q2W", "q2w", "every 2 weeks", "EVERY 2 WEEKS", "every other week",
            "fortnightly", "once every 2 weeks"],
    HOURS_PER_MONTH: ["monthly", "every month", "QM"],
    0.5: ["every 30 min", "every 30 minutes", "q30min"],
    4.8: ["5 times daily", "every 4.8 h"],
    1.5: ["q1.5h", "every 1.5 h", "every 90 min"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("phrase", "interval_h"),
    [(p, h) for h, phrases in INTERVAL_SYNONYMS.items() for p in phrases],
)
def test_interval_synonyms(phrase, interval_h):
    assert only_block(f"sirolimus 1 mg {phrase}") == Block(Dose(1.0), interval_h=interval_h)


WEEKDAY_SYNONYMS = {
    (MON, THU): ["every Monday and Thursday", "Mon/Thu", "Mon, Thu", "mon and thu",
                 "on Mondays and Thursdays", "Monday & Thursday", "twice weekly",
                 "2 times per week", "2 TIMES PER WEEK", "2x/week", "Thu/Mon",
                 "every Thursday and Monday"],
    (MON, WED, FRI): ["Mon/Wed/Fri", "Mon, Wed, Fri", "Mon Wed Fri", "Monday, Wednesday and Friday",
                      "every Mon, Wed and Fri", "3 times weekly", "3 TIMES PER WEEK",
                      "three times a week", "thrice weekly", "3x weekly", "3 x per week"],
    (MON, TUE, THU, FRI): ["4 times weekly", "4 TIMES PER WEEK", "four times a week"],
    (MON, TUE, WED, THU, FRI): ["5 times weekly", "Mon-Fri", "mon-fri", "Monday-Friday"],
    (MON, TUE, WED, THU, FRI, SAT): ["6 times per week", "Mon-Sat"],
    (SAT, SUN): ["Sat/Sun", "every Saturday and Sunday", "Sat-Sun"],
    (MON, SAT, SUN): ["Sat-Mon"],
    (TUE,): ["every Tuesday", "Tuesdays", "on Tue", "tues"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("phrase", "weekdays"),
    [(p, days) for days, phrases in WEEKDAY_SYNONYMS.items() for p in phrases],
)
def test_weekday_synonyms(phrase, weekdays):
    assert only_block(f"sirolimus 1 mg {phrase}") == Block(Dose(1.0), weekdays=weekdays)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, 168.0), (2, (MON, THU)), (3, (MON, WED, FRI)), (4, (MON, TUE, THU, FRI)),
     (5, (MON, TUE, WED, THU, FRI)), (6, (MON, TUE, WED, THU, FRI, SAT)), (7, 24.0)],
)  # fmt: skip
def test_n_times_weekly_convention(n, expected):
    assert times_weekly_days(n) == expected


@pytest.mark.parametrize(
    "phrase", ["once", "ONCE", "single dose", "SINGLE DOSE", "loading", "loading dose"]
)
def test_single_dose_synonyms(phrase):
    assert only_block(f"sirolimus 6 mg {phrase}") == Block(Dose(6.0))


@pytest.mark.parametrize(
    ("phrase", "n_doses"),
    [("x 56", 56), ("x56", 56), ("× 56", 56), ("x 56 doses", 56), ("for 56 doses", 56),
     ("56 doses", 56), ("for 1 dose", 1), ("x 3 times", 3)],
)  # fmt: skip
def test_number_of_doses_synonyms(phrase, n_doses):
    assert only_block(f"sirolimus 1 mg daily {phrase}") == Block(
        Dose(1.0), interval_h=24.0, n_doses=n_doses
    )


@pytest.mark.parametrize(
    ("phrase", "duration_h"),
    [("for 6 weeks", 1008.0), ("for 6 wks", 1008.0), ("for six weeks", 1008.0),
     ("for 10 days", 240.0), ("for 1 week", 168.0), ("for a week", 168.0),
     ("for 36 h", 36.0), ("for 3 months", 3 * HOURS_PER_MONTH), ("for a month", HOURS_PER_MONTH),
     ("x 4 weeks", 672.0), ("for 2 d", 48.0)],
)  # fmt: skip
def test_duration_synonyms(phrase, duration_h):
    assert only_block(f"sirolimus 1 mg daily {phrase}") == Block(
        Dose(1.0), interval_h=24.0, duration_h=duration_h
    )


@pytest.mark.parametrize(
    ("phrase", "on_h", "off_h"),
    [
        ("5 days on 9 days off", 120.0, 216.0),
        ("5 days on, 9 days off", 120.0, 216.0),
        ("5 days on 9 off", 120.0, 216.0),
        ("five days on nine days off", 120.0, 216.0),
        ("2 weeks on 2 weeks off", 336.0, 336.0),
        ("2 weeks on, 2 weeks off", 336.0, 336.0),
        ("3 weeks out of 4", 504.0, 168.0),
        ("21 days out of 28", 504.0, 168.0),
        ("every other month", HOURS_PER_MONTH, HOURS_PER_MONTH),
        ("1 month on 1 month off", HOURS_PER_MONTH, HOURS_PER_MONTH),
        ("2 weeks per month", 336.0, HOURS_PER_MONTH - 336.0),
        ("2 weeks a month", 336.0, HOURS_PER_MONTH - 336.0),
        ("1 week each month", 168.0, HOURS_PER_MONTH - 168.0),
    ],
)
def test_on_off_cycle_synonyms(phrase, on_h, off_h):
    assert only_block(f"sirolimus 1 mg daily, {phrase}") == Block(
        Dose(1.0), interval_h=24.0, on_h=on_h, off_h=off_h
    )


def test_a_number_of_cycles_is_a_duration():
    block = only_block("sirolimus 1 mg daily, 1 week on 1 week off for 3 cycles")
    assert block.duration_h == 3 * 336.0


@pytest.mark.parametrize(
    ("phrase", "dose"),
    [
        ("oral", Dose(2.0)),
        ("po", Dose(2.0)),
        ("p.o.", Dose(2.0)),
        ("by mouth", Dose(2.0)),
        ("iv", Dose(2.0, route="iv")),
        ("IV bolus", Dose(2.0, route="iv")),
        ("i.v.", Dose(2.0, route="iv")),
        ("intravenous", Dose(2.0, route="iv")),
        ("iv over 2 h", Dose(2.0, route="infusion", infusion_h=2.0)),
        ("iv infusion over 30 min", Dose(2.0, route="infusion", infusion_h=0.5)),
        ("infusion over 30 min", Dose(2.0, route="infusion", infusion_h=0.5)),
        ("infused over 90 minutes", Dose(2.0, route="infusion", infusion_h=1.5)),
    ],
)
def test_route_synonyms(phrase, dose):
    assert only_block(f"sirolimus 2 mg weekly {phrase}").dose == dose


@pytest.mark.parametrize(
    ("phrase", "dose"),
    [
        ("2 mg", Dose(2.0)),
        ("2mg", Dose(2.0)),
        ("2 milligrams", Dose(2.0)),
        ("0.1 mg/kg", Dose(0.1, "mg/kg")),
        ("0.1 mg / kg", Dose(0.1, "mg/kg")),
        ("3 mg/m2", Dose(3.0, "mg/m2")),
        ("3 mg/m²", Dose(3.0, "mg/m2")),
        ("500 µg", Dose(0.5)),
        ("500 μg", Dose(0.5)),
        ("500 ug", Dose(0.5)),
        ("500 mcg", Dose(0.5)),
        ("100 mcg/kg", Dose(0.1, "mg/kg")),
        (".5 mg", Dose(0.5)),
        ("1e-1 mg", Dose(0.1)),
    ],
)
def test_dose_units(phrase, dose):
    assert only_block(f"sirolimus {phrase} weekly").dose == dose


def test_a_per_day_unit_is_a_daily_schedule():
    assert only_block("sirolimus 2 mg/day") == Block(Dose(2.0), interval_h=24.0)
    assert only_block("sirolimus 0.05 mg/kg/day") == Block(Dose(0.05, "mg/kg"), interval_h=24.0)
    assert only_block("sirolimus 6 mg/week") == Block(Dose(6.0), interval_h=168.0)


@pytest.mark.parametrize(
    "name", ["sirolimus", "rapamycin", "Rapamune", "SIROLIMUS", "sirolimus (Rapamune)"]
)
def test_every_sirolimus_alias_names_sirolimus(name):
    assert parse_regimen(f"{name} 1 mg daily").drug == "sirolimus"


@pytest.mark.parametrize(
    "name", ["everolimus", "RAD001", "rad001", "RAD-001", "Afinitor", "Zortress", "Certican",
             "Votubia"],
)  # fmt: skip
def test_every_everolimus_alias_names_everolimus(name):
    assert parse_regimen(f"{name} 5 mg daily").drug == "everolimus"


def test_drug_lookup_lists_aliases_and_ignores_case():
    assert resolve_drug("  RaPaMyCiN ") == "sirolimus"
    assert drug_aliases("afinitor")[0] == "everolimus"
    assert "Votubia" in drug_aliases("everolimus")


def test_unknown_drug_message_lists_what_pkdose_models():
    with pytest.raises(PkdoseError) as err:
        parse_regimen("tacrolimus 1 mg daily")
    assert str(err.value) == (
        "unknown drug 'tacrolimus'; pkdose models sirolimus (rapamycin, Rapamune), "
        "everolimus (RAD001, Afinitor, Zortress, Certican) and temsirolimus (Torisel, CCI-779)"
    )


# ---------------------------------------------------------------------------------------
# Sequences, starts and anchors
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "sirolimus 6 mg loading then 2 mg daily",
        "sirolimus loading dose 6 mg then 2 mg daily",
        "sirolimus 6 mg loading dose, then 2 mg daily",
        "sirolimus 6 mg once; 2 mg daily",
        "sirolimus 6 mg once followed by 2 mg daily",
        "sirolimus 6 mg once and then 2 mg daily",
    ],
)
def test_loading_dose_forms(text):
    assert parse_regimen(text) == regimen(
        "sirolimus", Block(Dose(6.0)), Block(Dose(2.0), interval_h=24.0)
    )


def test_three_part_sequence():
    reg = parse_regimen("everolimus 10 mg once then 5 mg daily x 6 then 2.5 mg daily")
    assert reg == regimen(
        "everolimus",
        Block(Dose(10.0)),
        Block(Dose(5.0), interval_h=24.0, n_doses=6),
        Block(Dose(2.5), interval_h=24.0),
    )


@pytest.mark.parametrize(
    "phrase",
    ["starting at 8 h", "starting at 8h", "start 8 h", ", starting 8 hours", "start at 480 min"],
)
def test_start_time_phrases(phrase):
    assert parse_regimen(f"sirolimus 1 mg daily {phrase}").start_h == 8.0


def test_anchored_parts_start_at_their_own_time():
    reg = parse_regimen("sirolimus 1 mg daily; at 12 h 5 mg once")
    assert reg == regimen(
        "sirolimus", Block(Dose(1.0), interval_h=24.0), Block(Dose(5.0), at_h=12.0)
    )
    assert format_regimen(reg) == "sirolimus 1 mg daily; at 12 h 5 mg once"


# ---------------------------------------------------------------------------------------
# Canonical form
# ---------------------------------------------------------------------------------------

CANONICAL = [
    (Block(Dose(1.0), interval_h=24.0), "1 mg daily"),
    (Block(Dose(1.0), interval_h=8.0), "1 mg three times daily"),
    (Block(Dose(1.0), interval_h=6.0), "1 mg four times daily"),
    (Block(Dose(1.0), interval_h=36.0), "1 mg every 36 h"),
    (Block(Dose(1.0), interval_h=336.0), "1 mg every 2 weeks"),
    (Block(Dose(1.0), interval_h=HOURS_PER_MONTH), "1 mg monthly"),
    (Block(Dose(1.0), interval_h=3 * HOURS_PER_MONTH), "1 mg every 3 months"),
    (Block(Dose(1.0), interval_h=0.5), "1 mg every 30 min"),
    (Block(Dose(1.0), interval_h=24 / 5), "1 mg every 4.8 h"),
    (Block(Dose(1.0), interval_h=1 / 3), "1 mg every 20 min"),
    (Block(Dose(1.0), interval_h=0.31), "1 mg every 0.31 h"),
    (Block(Dose(1.0), weekdays=(SAT,)), "1 mg Sat"),
    (Block(Dose(1.0), weekdays=tuple(range(7))), "1 mg Mon/Tue/Wed/Thu/Fri/Sat/Sun"),
    (Block(Dose(0.00001)), "0.00001 mg once"),
    (Block(Dose(1e-7, "mg/kg")), "0.0000001 mg/kg once"),
    (Block(Dose(1e-20, "mg/m2")), "0.00000000000000000001 mg/m2 once"),
    (Block(Dose(0.1 + 0.2)), "0.30000000000000004 mg once"),
    (Block(Dose(1.0), n_doses=1), "1 mg once x 1"),
    (Block(Dose(1.0), duration_h=72.0), "1 mg once for 3 days"),
    (Block(Dose(1.0), interval_h=24.0, duration_h=36.0), "1 mg daily for 36 h"),
    (Block(Dose(1.0), interval_h=24.0, duration_h=168.0), "1 mg daily for 1 week"),
    (Block(Dose(1.0), interval_h=24.0, duration_h=2 * HOURS_PER_MONTH), "1 mg daily for 2 months"),
    (Block(Dose(1.0), interval_h=24.0, duration_h=0.25), "1 mg daily for 15 min"),
    (Block(Dose(1.0), interval_h=24.0, on_h=HOURS_PER_MONTH, off_h=HOURS_PER_MONTH),
     "1 mg daily, every other month"),
    (Block(Dose(1.0), interval_h=24.0, on_h=336.0, off_h=HOURS_PER_MONTH - 336.0),
     "1 mg daily, 2 weeks per month"),
    (Block(Dose(1.0), interval_h=24.0, on_h=36.0, off_h=12.5), "1 mg daily, 36 h on 12.5 h off"),
    (Block(Dose(1.0), weekdays=(MON, THU), on_h=504.0, off_h=168.0, n_doses=12),
     "1 mg Mon/Thu, 3 weeks on 1 week off x 12"),
    (Block(Dose(1.0, route="iv"), interval_h=24.0), "1 mg daily iv"),
    (Block(Dose(1.0, route="infusion", infusion_h=0.5), interval_h=24.0, n_doses=5),
     "1 mg daily x 5 iv over 30 min"),
    (Block(Dose(1.0), interval_h=24.0, at_h=0.0), "at 0 h 1 mg daily"),
    (Block(Dose(1.0), interval_h=24.0, at_h=48.0), "at 2 days 1 mg daily"),
]  # fmt: skip


@pytest.mark.parametrize(("block", "text"), CANONICAL, ids=[c[1] for c in CANONICAL])
def test_canonical_block_text(block, text):
    assert format_block(block) == text
    assert only_block(f"sirolimus {text}") == block


def test_canonical_text_appends_a_start_time_and_joins_anchored_parts_with_semicolons():
    reg = Regimen(
        "everolimus",
        (
            Block(Dose(5.0), interval_h=24.0, n_doses=7),
            Block(Dose(2.5), interval_h=24.0, n_doses=7),
            Block(Dose(10.0), at_h=36.0),
        ),
        start_h=-12.0,
    )
    text = "everolimus 5 mg daily x 7 then 2.5 mg daily x 7; at 36 h 10 mg once, starting at -12 h"
    assert format_regimen(reg) == text
    assert parse_regimen(text) == reg


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regimens())
def test_any_valid_regimen_survives_format_then_parse(reg):
    text = format_regimen(reg)
    assert parse_regimen(text) == reg
    assert "\n" not in text


PHRASES = [
    "sirolimus 1 mg daily", "rapamycin 6 mg loading then 2 mg qd x 14 then 1 mg every 48 h",
    "everolimus 10 mg three times a week for 3 months", "sirolimus 0.1 mg/kg bid, 5 days on 9 off",
    "everolimus 5 mg every Monday and Thursday 2 weeks on 1 week off iv over 1 h",
    "sirolimus 2 mg/m2 q8h x 9 po starting at 6 h", "rapamycin 1 mg daily every other month",
]  # fmt: skip


@pytest.mark.parametrize("text", PHRASES)
def test_canonical_text_is_a_fixed_point(text):
    once = format_regimen(parse_regimen(text))
    assert format_regimen(parse_regimen(once)) == once


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

MALFORMED = [
    # (text, the word named in the message, a fragment of what was expected there)
    ("sirolimus 2 mgs daily", "'mgs' (word 3)",
     "expected a dose unit (mg, mg/kg, mg/m2, or ppm in the diet)"),
    ("sirolimus 2 daily", "'daily' (word 3)", "a dose unit"),
    ("sirolimus two mg daily", "'two' (word 2)", "a dose amount"),
    ("sirolimus mg daily", "'mg' (word 2)", "a dose amount"),
    ("sirolimus daily", "'daily' (word 2)", "a dose amount"),
    ("sirolimus", "the end (after word 1)", "a dose amount"),
    ("sirolimus 2 mg", "the end (after word 3)", "a schedule"),
    ("sirolimus 2 mg dialy", "'dialy' (word 4)", "did you mean 'daily'"),
    ("sirolimus 2 mg weekley", "'weekley' (word 4)", "did you mean 'weekly'"),
    ("sirolimus 2 mg daily weekly", "'weekly' (word 5)", "'then' before a second schedule"),
    ("sirolimus 2 mg daily x", "the end (after word 5)", "a number of doses after 'x'"),
    ("sirolimus 2 mg daily x many", "'many' (word 6)", "a number of doses after 'x'"),
    ("sirolimus 2 mg daily x 2.5", "'2.5' (word 6)", "a whole number of doses"),
    ("sirolimus 2 mg daily for", "the end (after word 5)", "a number of doses or a time"),
    ("sirolimus 2 mg daily for 6", "the end (after word 6)", "'doses', 'cycles' or a time"),
    ("sirolimus 2 mg daily for 6 fortnights", "'fortnights' (word 7)", "a time unit"),
    ("sirolimus 2 mg every", "the end (after word 4)", "a time or a weekday after 'every'"),
    ("sirolimus 2 mg every blue moon", "'blue' (word 5)", "a time or a weekday"),
    ("sirolimus 2 mg every 8", "the end (after word 5)", "a time unit"),
    ("sirolimus 2 mg every other year", "'year' (word 6)", "'day', 'week' or 'month'"),
    ("sirolimus 2 mg q12", "the end (after word 4)", "a time unit"),
    ("sirolimus 2 mg twice", "the end (after word 4)", "'daily' or 'weekly' after 'twice'"),
    ("sirolimus 2 mg 3 times", "the end (after word 5)", "'daily' or 'weekly'"),
    ("sirolimus 2 mg 9 times weekly", "'9' (word 4)", "at most 7 times weekly"),
    ("sirolimus 2 mg daily 5 days on", "the end (after word 7)", "the off period"),
    ("sirolimus 2 mg daily 5 days on 9 days", "the end (after word 9)", "'off'"),
    ("sirolimus 2 mg daily 5 days", "the end (after word 6)", "'on'"),
    ("sirolimus 2 mg daily 5 on 9 off", "'5' (word 5)", "an on/off cycle"),
    ("sirolimus 2 mg Mon/Mon", "'Mon' (word 4)", "Mon is listed twice"),
    ("sirolimus 2 mg Mon and", "the end (after word 5)", "a day of the week"),
    ("sirolimus 2 mg Mon/Thu and daily", "'daily' (word 6)", "a day of the week"),
    ("sirolimus 2 mg daily iv over", "the end (after word 6)", "the infusion duration"),
    ("sirolimus 2 mg daily infusion", "the end (after word 5)", "the infusion duration"),
    ("sirolimus 2 mg daily oral iv", "'iv' (word 6)", "'then' before a second route"),
    ("sirolimus 2 mg daily x 5 for 2 weeks", "'for' (word 7)", "a second length"),
    ("sirolimus 2 mg daily then", "the end (after word 5)", "a dose amount"),
    ("sirolimus 2 mg then 3 mg daily", "'then' (word 4)", "a schedule"),
    ("sirolimus 2 mg daily then sirolimus 1 mg", "'sirolimus' (word 6)", "drug name once"),
    ("sirolimus 2 mg 1 mg daily", "'1' (word 4)", "'then' before another dose"),
    ("sirolimus 2 mg/lb daily", "'lb' (word 3)", "'kg' or 'm2' after '/'"),
    ("sirolimus 2 mg daily starting", "the end (after word 5)", "a start time"),
    ("sirolimus 2 mg daily starting at 8 h starting at 9 h", "'starting' (word 9)",
     "one start time"),
    ("sirolimus at 2 mg daily", "'mg' (word 4)", "a time unit"),
    ("sirolimus 2 mg daily + 1 mg", "'+' (word 5)", "'then'"),
    ("2 mg sirolimus daily", "'2' (word 1)", "the drug name first"),
    ("daily sirolimus 2 mg", "'daily' (word 1)", "the drug name first"),
    ("sirolimus 2 mg daily for 3 cycles", "'for' (word 5)", "an on/off cycle to count"),
    ("sirolimus 2 mg 1.5 times daily", "'1.5' (word 4)", "a whole number of times"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "where", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_text_names_the_word_and_what_was_expected(text, where, expected):
    with pytest.raises(PkdoseError) as err:
        parse_regimen(text)
    message = str(err.value)
    assert message.startswith(f"cannot read '{text}': stopped at {where}; expected ")
    assert expected in message
    assert "\n" not in message


def test_the_documented_example_message_verbatim():
    with pytest.raises(PkdoseError) as err:
        parse_regimen("sirolimus 2 mgs daily")
    assert str(err.value) == (
        "cannot read 'sirolimus 2 mgs daily': stopped at 'mgs' (word 3); "
        "expected a dose unit (mg, mg/kg, mg/m2, or ppm in the diet)"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sirolimus 0 mg daily", "dose amount must be positive, got 0 mg"),
        ("sirolimus -2 mg daily", "dose amount must be positive, got -2 mg"),
        ("sirolimus 5000 mg daily", "above the 1000 mg limit on one dose"),
        ("sirolimus 1e999 mg daily", "expected a number below 1e308"),
        ("sirolimus 2 mg daily x 0", "number of doses must be a whole number >= 1"),
        ("sirolimus 2 mg every 0 h", "dosing interval must be positive"),
        ("sirolimus 2 mg daily for 0 days", "a block duration must be positive"),
        ("sirolimus 2 mg Mon/Thu 5 days on 10 days off x 4", "whole weeks"),
        ("sirolimus 2 mg daily 5 weeks per month", "must both be positive"),
        ("sirolimus 2 mg once x 3", "a single dose cannot repeat"),
        ("sirolimus 2 mg daily 5 days on 0 days off", "must both be positive"),
        ("sirolimus 2 mg daily then 1 mg weekly", "only the last part"),
        ("sirolimus 2 mg daily iv over 0 h", "an infusion needs a positive duration"),
    ],
)
def test_invalid_values_are_explained_in_one_line(text, reason):
    with pytest.raises(PkdoseError) as err:
        parse_regimen(text)
    assert str(err.value) == f"cannot read '{text}': {reason}" or reason in str(err.value)
    assert str(err.value).startswith(f"cannot read '{text}': ")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_asks_for_a_regimen(text):
    with pytest.raises(PkdoseError, match="empty regimen; write e.g. 'sirolimus 1 mg daily'"):
        parse_regimen(text)


def test_messages_stay_on_one_line_for_multi_line_input():
    with pytest.raises(PkdoseError) as err:
        parse_regimen("sirolimus 2 mg\ndaily\nfoo")
    assert "\n" not in str(err.value)
    assert "'foo' (word 5)" in str(err.value)


VOCABULARY = [
    "sirolimus", "everolimus", "rapamycin", "1", "2.5", "0", "-3", "mg", "mg/kg", "µg", "daily",
    "twice", "times", "weekly", "every", "other", "month", "then", ";", "x", "for", "doses",
    "days", "weeks", "h", "on", "off", "Mon", "Thu", "and", "/", "iv", "over", "once",
    "loading", "q12h", "per", "starting", "at", "a", ",", "3", "7", "min", "out", "of", "+",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=12) | st.text(max_size=40).map(lambda s: [s]))
def test_any_input_gives_a_regimen_or_a_one_line_pkdose_error(words):
    text = " ".join(words)
    try:
        reg = parse_regimen(text)
    except PkdoseError as err:
        assert "\n" not in str(err)
    else:
        assert parse_regimen(format_regimen(reg)) == reg


# Animal regimens (issue 6): injections and diets, with the examples of the issue


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("rapamycin 14 ppm diet", "sirolimus 14 ppm diet"),
        ("rapamycin 14 ppm in the diet", "sirolimus 14 ppm diet"),
        ("rapamycin 42 ppm diet every other month", "sirolimus 42 ppm diet, every other month"),
        ("rapamycin 126 ppm diet for 90 days", "sirolimus 126 ppm diet for 90 days"),
        ("rapamycin 2 mg/kg ip every 5 days", "sirolimus 2 mg/kg every 120 h ip"),
        ("rapamycin 8 mg/kg i.p. daily for 90 days", "sirolimus 8 mg/kg daily for 90 days ip"),
        ("rapamycin 1.5 mg/kg sc 3 times weekly, 2 weeks per month",
         "sirolimus 1.5 mg/kg Mon/Wed/Fri, 2 weeks per month sc"),
        ("rapamycin 0.1 mg/kg 3 times weekly", "sirolimus 0.1 mg/kg Mon/Wed/Fri"),
        ("rapamycin 1 mg/kg diet", "sirolimus 1 mg/kg diet"),
    ],
)
def test_animal_regimens_parse_to_a_canonical_text_that_reads_back(text, canonical):
    reg = parse_regimen(text)
    assert format_regimen(reg) == canonical
    assert parse_regimen(canonical) == reg


def test_a_diet_is_eaten_daily_and_its_doses_are_days_of_food():
    block = parse_regimen("rapamycin 14 ppm diet").blocks[0]
    assert block.dose == Dose(14.0, "ppm", "diet")
    assert block.interval_h == 24.0


def test_two_weeks_per_month_restarts_the_weekday_pattern_every_month():
    block = parse_regimen("rapamycin 1.5 mg/kg sc 3 times weekly, 2 weeks per month").blocks[0]
    period, offsets = block.pattern()
    assert period == pytest.approx(365.25 / 12 * 24)
    assert offsets == (0.0, 48.0, 96.0, 168.0, 216.0, 264.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rapamycin 14 ppm daily", "is a dose only in the diet"),
        ("rapamycin 14 ppm diet twice daily", "one day's food per dose"),
        ("rapamycin 2 mg diet", "concentration in food"),
    ],
)
def test_ppm_and_diet_misuse_is_a_one_line_error(text, message):
    with pytest.raises(PkdoseError, match=message):
        parse_regimen(text)
