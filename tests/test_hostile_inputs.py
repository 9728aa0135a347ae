"""Hostile input: every class ends in one PkdoseError line, quickly and in little memory.

Classes: huge and tiny numbers, hangs, memory, files, TOML schema, CSV tables and clock
times. Each test runs under a wall-clock alarm and an address-space cap, so a regression
that hangs or allocates gigabytes fails here instead of stalling the suite; together they
take a few seconds. The limits themselves are in ``pkdose.limits`` (``docs/limits.md``).
"""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import socket
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pkdose import individual
from pkdose.cli import main
from pkdose.errors import ExtrapolationWarning, PkdoseError
from pkdose.files import read_csv, read_text, read_toml
from pkdose.limits import LIMITS, MAX_CSV_ROWS, MAX_TIME_H, exceeded
from pkdose.model import covariate_table, get_model
from pkdose.population import load_population
from pkdose.references import read_reference
from pkdose.regimen import Block, Dose, Regimen
from pkdose.regimen_io import (
    events_to_regimen,
    events_to_regimens,
    parse_regimen_toml,
    read_events_csv,
    read_regimen_file,
)
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import load_regimens, simulate

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 15  # per test; each should take well under one
MEMORY_BYTES = 4 * 2**30

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX files (FIFO, /dev/zero)")


def _address_space_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(autouse=True)
def bounded():
    """Fail a test that hangs (alarm) or grows by more than 4 GiB (address-space cap)."""
    if os.name != "posix":
        yield
        return
    import resource

    def _hang(signum, frame):
        raise TimeoutError(f"hostile input took more than {SECONDS} s")

    old_handler = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(SECONDS)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    # Growth is capped, not the total: earlier tests may have mapped memory already.
    cap = _address_space_bytes() + MEMORY_BYTES
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_handler)


def refused(fn, *args, match: str = "", **kwargs) -> str:
    """The one-line PkdoseError message ``fn(*args)`` raises."""
    with pytest.raises(PkdoseError, match=match) as err:
        fn(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message and message
    return message


def cli_refuses(*args: str, match: str = "") -> str:
    """Exit status 2, one 'pkdose: error:' line and no traceback from the command line."""
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("pkdose: error:")]
    assert len(errors) == 1 and match in errors[0], res.stderr
    return errors[0]


def toml(tmp_path: Path, text: str, name: str = "r.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def csv(tmp_path: Path, text: str, name: str = "e.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------------------------------
# Huge and tiny numbers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "match"), [
    ("rapamycin 1e300 mg/kg weekly", "100 mg/kg limit on one mg/kg dose"),
    ("rapamycin 1e300 mg weekly", "1000 mg limit on one dose"),
    ("sirolimus 600 mg/m2 weekly", "500 mg/m2 limit"),
    ("rapamycin 1e6 ppm diet", "5000 ppm limit"),
    ("sirolimus 1e999 mg daily", "a number below 1e308"),
    ("sirolimus 1 mg daily starting at 1e308 h", "limit on times"),
    ("sirolimus 1 mg daily; at -1e308 h 1 mg once", "limit on times"),
    ("sirolimus 1 mg daily for 1e300 days", "limit on times"),
    ("sirolimus 1 mg daily 5 days on 1e300 days off", "limit on repeating periods"),
    ("everolimus 1 mg daily iv over 1e-300 h", "1 min limit on infusion durations"),
    ("everolimus 1 mg daily iv over 1e300 h", "limit on times"),
    ("sirolimus 1 mg every 1e300 h", "limit on repeating periods"),
    ("sirolimus 1 mg daily x 1e300", "limit on the number of doses"),
])
def test_huge_and_tiny_numbers_in_text_are_refused(text, match):
    refused(parse_regimen, text, match=match)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(interval_h="24"), "must be a number of hours"),
    (dict(interval_h=24.0, n_doses=math.inf), "whole number"),
    (dict(interval_h=24.0, duration_h=1e300), "limit on times"),
    (dict(interval_h=24.0, at_h=-1e308), "limit on times"),
    (dict(interval_h=24.0, weekdays=("Mon",)), "tuple of day numbers"),
])
def test_huge_and_odd_values_in_the_python_api_are_refused(kwargs, match):
    refused(Block, Dose(1.0), **kwargs, match=match)


def test_a_regimen_start_of_minus_1e308_is_refused_in_a_file(tmp_path):
    path = toml(tmp_path, 'drug = "sirolimus"\nstart_h = -1e308\nregimen = "1 mg daily"\n')
    msg = refused(read_regimen_file, path, match="limit on times")
    assert path in msg
    assert "(size 1e+308 h) is above" in msg  # a negative time is too large, not "above"


@pytest.mark.parametrize("value", [1e-300, 1e300])
def test_extreme_volumes_are_refused_before_the_solver(value):
    refused(simulate, "sirolimus 1 mg daily", params={"v1": value}, until_h=24,
            match="limit on model parameters")


def test_extreme_volumes_in_a_model_file_name_the_file(tmp_path):
    text = (ROOT / "pkdose" / "models" / "wu2012_sirolimus.toml").read_text(encoding="utf-8")
    assert "v1 = { value = 53.4," in text
    path = toml(tmp_path, text.replace("v1 = { value = 53.4,", "v1 = { value = 1e-300,"),
                "m.toml")
    msg = refused(get_model, path, match="limit on model parameters")
    assert "m.toml" in msg


def test_tiny_doses_give_finite_tiny_levels():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        df = simulate("sirolimus 1e-300 mg daily", until_h=48)
    assert np.all(np.isfinite(df["conc_ng_ml"])) and df["conc_ng_ml"].max() < 1e-290


@pytest.mark.parametrize(("text", "weight_kg", "match"), [
    ("rapamycin 100 mg/kg weekly", 70.0, "7000 mg for the subject"),  # 1000 mg per dose
    ("rapamycin 10 mg/kg every 4 h", 70.0, "4200 mg for the subject"),  # 1000 mg a day
    ("rapamycin 10 mg/kg once; at 6 h 10 mg/kg once", 80.0, "1600 mg within 24 h"),
])
def test_weight_based_doses_are_held_to_the_mg_limits_once_resolved(text, weight_kg, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        refused(simulate, text, subjects={"weight_kg": weight_kg}, until_h=24, match=match)


@pytest.mark.parametrize(("text", "match"), [
    ("sirolimus 5 mg every 0.001 h", "15 min limit on dosing intervals"),
    ("sirolimus 600 mg every 12 h", "1200 mg"),
    ("sirolimus 600 mg once; at 12 h 600 mg once", "1200 mg within 24 h"),
    ("sirolimus 60 mg/kg once; at 2 h 60 mg/kg once", "120 mg/kg within 24 h"),
    ("sirolimus 2 mg daily 1 h on 1 h off", "doses would come every 2 h"),
    ("sirolimus 2 mg weekly 3 days on 4 days off", "shorter than the dosing interval"),
    ("sirolimus 2 mg every 48 h 3 days on 12 h off", "sooner than the dosing interval"),
])
def test_schedules_that_multiply_the_daily_amount_are_refused(text, match):
    refused(parse_regimen, text, match=match)


def test_a_plausible_loading_dose_then_maintenance_is_not_counted_twice():
    reg = parse_regimen("sirolimus 1000 mg loading then 1000 mg weekly")
    assert len(reg.trains()) == 2


def test_mg_per_kg_without_a_weight_warns_with_the_assumed_weight():
    with pytest.warns(ExtrapolationWarning, match=r"default subject's weight \(70 kg\)"):
        simulate("sirolimus 0.05 mg/kg daily", until_h=24)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        simulate("sirolimus 0.05 mg/kg daily", subjects={"weight_kg": 70.0}, until_h=24)


# ---------------------------------------------------------------------------------------
# Hangs: work that would grow without bound is counted first
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "match"), [
    ("rapamycin 1 mg every 1e-9 h", "limit on dosing intervals"),
    ("rapamycin 1 mg every 1 min for 1200 months", "limit on dosing intervals"),
    ("rapamycin 1 mg daily x 1000000", "limit on the number of doses"),
    ("rapamycin 1 mg every 15 min for 200 weeks", "limit on the number of doses"),
    ("rapamycin 1 mg every 15 min, 11 months on 1 day off", "limit on the number of dose"),
    ("rapamycin 1 mg every 23.9 h; at 1 h 1 mg every 24.1 h; at 2 h 1 mg every 167.9 h",
     "limit on repeating periods"),
    ("rapamycin 1 mg daily for 470 weeks then 1 mg daily for 470 weeks", "limit on times"),
])
def test_regimens_that_would_hang_are_refused_when_read(text, match):
    refused(parse_regimen, text, match=match)


def test_a_regimen_of_more_parts_than_dose_trains_allowed_is_refused():
    blocks = tuple(Block(Dose(0.01), at_h=float(i)) for i in range(10_001))
    refused(Regimen, "sirolimus", blocks, match="limit on the number of dose trains")


def test_a_very_long_regimen_text_is_refused_before_parsing():
    refused(parse_regimen, "sirolimus 1 mg daily" + " then 1 mg once" * 2000,
            match="limit on regimen texts")


@pytest.mark.parametrize(("until_h", "step_h", "match"), [
    (1e300, 1.0, "limit on times"),
    (MAX_TIME_H, 1e-300, "limit on output points"),
    (math.inf, 1.0, "simulation end"),
])
def test_simulation_grids_are_counted_before_they_are_built(until_h, step_h, match):
    refused(simulate, "sirolimus 1 mg daily", until_h=until_h, step_h=step_h, match=match)


def test_dose_by_dose_simulation_counts_doses_first():
    # The Michaelis-Menten default solves dose by dose: 15-min doses for 9 years are
    # 315,000 doses, refused before the first.
    refused(simulate, "sirolimus 1 mg every 15 min", until_h=9 * 8766.0, step_h=24.0,
            match="limit on the number of doses")


def test_the_command_line_refuses_a_far_simulation_end():
    cli_refuses("simulate", "sirolimus 1 mg daily", "--until", "100000w",
                match="limit on times")


# ---------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------


def test_more_output_times_than_the_limit_are_refused():
    refused(simulate, "sirolimus 1 mg daily", times_h=np.arange(2_000_001) * 0.01,
            match="limit on output points")


def test_a_million_row_event_table_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("ID,TIME,AMT,DRUG\n")
        fh.write("1,0,1,sirolimus\n" * (MAX_CSV_ROWS + 1))
    refused(read_events_csv, path, match="limit on CSV rows")


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path):
    big_csv, big_toml = tmp_path / "big.csv", tmp_path / "big.toml"
    for path, limit in ((big_csv, "csv_bytes"), (big_toml, "toml_bytes")):
        with path.open("wb") as fh:  # sparse: the size is there, the bytes are not
            fh.truncate(int(LIMITS[limit].value) + 1)
    refused(read_events_csv, big_csv, match="limit on CSV file sizes")
    refused(read_regimen_file, big_toml, match="limit on TOML file sizes")


def test_a_table_of_thousands_of_columns_is_refused(tmp_path):
    path = csv(tmp_path, ",".join(f"c{i}" for i in range(2000)) + "\n")
    refused(read_events_csv, path, match="limit on CSV columns")


def test_one_subject_with_more_dose_rows_than_trains_allowed_is_refused():
    df = pd.DataFrame({"ID": 1, "TIME": np.arange(10_001) * 24.0, "AMT": 1.0,
                       "DRUG": "sirolimus"})
    refused(events_to_regimen, df, match="limit on the number of dose trains")


def test_an_event_table_of_thousands_of_subjects_is_refused_as_regimens():
    df = pd.DataFrame({"ID": np.arange(1001), "TIME": 0.0, "AMT": 1.0, "DRUG": "sirolimus"})
    refused(events_to_regimens, df, match="limit on IDs of an event table")


def test_an_event_row_repeating_a_billion_times_is_refused(tmp_path):
    path = csv(tmp_path, "ID,TIME,AMT,II,ADDL,DRUG\n1,0,1,24,1e9,sirolimus\n")
    refused(load_regimens, path, match="limit on the number of doses")


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize(("reader", "name"), [
    (read_regimen_file, "r.toml"),
    (read_events_csv, "e.csv"),
    (get_model, "m.toml"),
    (load_population, "p.csv"),
    (read_reference, "ref.toml"),
])
def test_a_fifo_is_refused_without_blocking(tmp_path, reader, name):
    path = tmp_path / name
    os.mkfifo(path)
    msg = refused(reader, str(path), match="named pipe")
    assert name in msg


@posix_only
def test_a_symlink_to_dev_zero_is_refused(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    refused(read_regimen_file, link, match="character device")
    refused(load_regimens, str(link), match="character device")


@posix_only
def test_a_symlink_loop_is_refused(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.symlink_to(b)
    b.symlink_to(a)
    refused(read_regimen_file, a, match="loop of symbolic links")


@posix_only
def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.csv"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        refused(read_events_csv, path, match="socket")
    finally:
        sock.close()


@posix_only
def test_a_symlink_to_a_regular_file_is_followed(tmp_path):
    target = Path(toml(tmp_path, 'drug = "sirolimus"\nregimen = "1 mg daily"\n'))
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    assert read_regimen_file(link).regimen == parse_regimen("sirolimus 1 mg daily")


def test_directories_missing_files_and_non_names_are_refused(tmp_path):
    refused(read_regimen_file, tmp_path, match="is a directory")
    refused(read_regimen_file, tmp_path / "none.toml", match="not found")
    refused(read_regimen_file, tmp_path / "none" / "x.toml", match="not found")
    refused(read_text, 3, "regimen file", match="must be a file name")
    refused(read_text, "a\x00b.toml", "regimen file", match="NUL")


def test_non_utf8_and_binary_files_are_refused_with_the_byte(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes('drug = "sirolimus"\nname = "Müller"\n'.encode("latin-1"))
    refused(read_regimen_file, latin, match=r"not UTF-8 text \(byte 0xfc")
    refused(get_model, str(latin), match="model file .*not UTF-8")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"ID,TIME\x00,AMT\n")
    refused(read_events_csv, binary, match="binary file")


def test_a_byte_order_mark_is_allowed(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'drug = "sirolimus"\nregimen = "1 mg daily"\n')
    assert read_regimen_file(path).regimen.drug == "sirolimus"


def test_the_command_line_refuses_hostile_files_in_one_line(tmp_path):
    latin = tmp_path / "m.toml"
    latin.write_bytes(b"[model]\nname = \"\xff\"\n")
    cli_refuses("simulate", "sirolimus 1 mg daily", "--model", str(latin), match="UTF-8")
    if os.name == "posix":
        fifo = tmp_path / "f.toml"
        os.mkfifo(fifo)
        cli_refuses("simulate", str(fifo), match="named pipe")


# ---------------------------------------------------------------------------------------
# TOML schema
# ---------------------------------------------------------------------------------------

HEAD = 'drug = "sirolimus"\nregimen = "1 mg daily"\n'


@pytest.mark.parametrize(("text", "match"), ids=lambda v: v[:60] if isinstance(v, str) else v,
                         argvalues=[
    (HEAD + "x = " + "[" * 100_000 + "]" * 100_000 + "\n", "limit on TOML nesting"),
    (HEAD + "[" + ".".join(["a"] * 200) + "]\nk = 1\n", "nesting 201 levels deep"),
    (HEAD + "n = " + "9" * 5000 + "\n", "invalid TOML"),
    ('drug = "sirolimus"\nblock = "x"\n', "must be an array of tables"),
    ('drug = "sirolimus"\nblock = [1, 2]\n', "must be a table"),
    ('drug = "sirolimus"\n[block]\namount = 1\n', "must be an array of tables"),
    ('drug = "sirolimus"\n[[block]]\namount = "2"\n', "must be a number"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\ninterval_h = 24\nn_doses = 1.5\n',
     "whole number"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\ninterval_h = 24\nn_doses = 1000000000000\n',
     "limit on the number of doses"),
    ('drug = "sirolimus"\n[[block]]\namount = 1\nweekdays = "Mon"\n', "array of day names"),
    ('drug = 5\nregimen = "1 mg daily"\n', "key 'drug' must be a string"),
    ('drug = "sirolimus"\nregimen = ["1 mg daily"]\n', "key 'regimen' must be a string"),
    ('drug = "sirolimus"\nstart_h = inf\nregimen = "1 mg daily"\n', "start time"),
])
def test_toml_schema_errors_name_the_file(tmp_path, text, match):
    path = toml(tmp_path, text)
    msg = refused(read_regimen_file, path, match=match)
    assert "r.toml" in msg


@pytest.mark.parametrize(("table", "match"), [
    ("[[reference]]\ntitle = 'x'\n", r"not an array of tables \(\[\[reference\]\]\)"),
    ("[reference]\ncomedication = 5\n", "reference.comedication' must be an array"),
    ("[reference]\ncomedication = [5]\n", "reference.comedication' must be an array"),
    ("[reference]\nsystemic = 'no'\n", "reference.systemic' must be true or false"),
])
def test_reference_tables_of_the_wrong_type_are_refused(tmp_path, table, match):
    path = toml(tmp_path, HEAD + table)
    refused(load_regimens, path, match=match)


def test_deep_nesting_in_a_model_file_is_refused(tmp_path):
    path = toml(tmp_path, "x = " + "[" * 50 + "]" * 50 + "\n", "m.toml")
    refused(get_model, path, match="limit on TOML nesting")


def test_python_objects_of_the_wrong_type_are_refused():
    refused(Regimen, "sirolimus", (1, 2), match="Block objects")
    refused(Regimen, "sirolimus", (Block(Dose(1.0)),), start_h="0", match="start time")
    refused(Dose, 1.0, route="infusion", infusion_h="2", match="infusion duration")


def test_read_toml_refuses_what_tomllib_would_raise_on(tmp_path):
    refused(read_toml, toml(tmp_path, "a = [" * 3000), "model file", match="TOML")
    assert parse_regimen_toml(HEAD).regimen.drug == "sirolimus"


# ---------------------------------------------------------------------------------------
# CSV tables
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "match"), [
    ("", "is empty; expected columns"),
    ("ID,TIME,AMT\n", "has no rows"),
    ('ID,TIME,AMT,DRUG\n1,0,"1,sirolimus\n', "cannot read event table"),
    ("ID,TIME,AMT,DRUG\n1,soon,1,sirolimus\n", "TIME is not a number"),
    ("ID,TIME,AMT,DRUG\n1,inf,1,sirolimus\n", "TIME must be a finite number"),
    ("ID,TIME,AMT,DRUG\n1,1e300,1,sirolimus\n", "limit on times"),
    ("ID,TIME,AMT,II,ADDL,DRUG\n1,0,1,1e-9,5,sirolimus\n", "limit on dosing intervals"),
    ("ID,TIME,AMT,DRUG\n1,0,600,sirolimus\n1,12,600,sirolimus\n", "1200 mg within 24 h"),
    ("ID,TIME,AMT,DRUG\n1,0,1e400,sirolimus\n", "not a number"),
])
def test_malformed_event_tables_are_one_line_errors(tmp_path, text, match):
    path = csv(tmp_path, text)
    msg = refused(load_regimens, path, match=match)
    assert "e.csv" in msg


def test_empty_event_frames_are_refused():
    empty = pd.DataFrame({"TIME": [], "AMT": []})
    refused(events_to_regimen, empty, "sirolimus", match="has no rows")
    refused(events_to_regimens, empty, "sirolimus", match="has no rows")


def test_population_and_levels_csv_go_through_the_safe_reader(tmp_path):
    latin = tmp_path / "p.csv"
    latin.write_bytes("weight_kg,sex\n70,männlich\n".encode("latin-1"))
    refused(load_population, str(latin), match="population file .*not UTF-8")
    refused(read_csv, tmp_path / "none.csv", "levels file", match="not found")


# ---------------------------------------------------------------------------------------
# Clock times in a levels file
# ---------------------------------------------------------------------------------------

REG = parse_regimen("sirolimus 2 mg daily")


def levels(times, first_dose=None):
    df = pd.DataFrame({"time": times, "conc_ng_ml": [5.0] * len(times)})
    return individual.read_levels(df, REG, first_dose)


@pytest.mark.parametrize(("times", "first", "match"), [
    (["03/04/2026 08:00", "05/04/2026 08:00"], "2026-03-01 08:00", "could be day/month"),
    (["13/04/2026 08:00", "04/13/2026 08:00"], "2026-03-01 08:00", "day first and others"),
    (["2026-04-03 08:00", "05/04/2026 08:00"], "2026-03-01 08:00", "same way"),
    (["2026-04-03 08:00+02:00", "2026-04-04 08:00"], "2026-03-01 08:00+01:00",
     "some times have a UTC offset"),
    (["2026-04-03 08:00+02:00"], "2026-03-01 08:00", "first dose time has none"),
    (["2026-04-03 08:00"], "2026-03-01 08:00Z", "first dose time has one"),
    (["2026-02-30 08:00"], "2026-02-01 08:00", "no such date"),
    (["2026-03-30 08:00+24:00"], "2026-03-01 08:00+01:00", "UTC offset"),
    (["2026-04-03"], "2026-03-01 08:00", "cannot read time"),
    (["9999-04-03 08:00"], "2026-03-01 08:00", "no such date|limit on times"),
    (["2030-04-03 08:00"], "2018-03-01 08:00", "limit on times"),
    ([math.inf], None, "finite number of hours"),
    ([1e9], None, "limit on times"),
    ([5.0], "03/04/2026 08:00", "could be day/month"),
])
def test_ambiguous_or_mixed_clock_times_are_refused(times, first, match):
    refused(levels, times, first, match=match)


def test_more_levels_than_one_fit_can_take_are_refused_before_fitting():
    refused(levels, list(np.arange(1001) + 24.0), match="limit on measured levels")
    doses = pd.DataFrame({"time": np.arange(10_001) * 24.0, "dose_mg": 1.0,
                          "conc_ng_ml": np.nan})
    refused(individual.read_levels, doses, REG, match="limit on the number of dose trains")


def test_day_first_dates_are_read_when_the_file_settles_the_order():
    lev = levels(["13/03/2026 08:00", "02/04/2026 08:00"], "12/03/2026 08:00")
    assert lev.time_h.tolist() == [24.0, 21 * 24.0]


def test_utc_offsets_are_honoured_across_daylight_saving():
    # 28 March 08:00 CET to 30 March 08:00 CEST is 47 hours, not 48.
    lev = levels(["2026-03-28 08:00+01:00", "2026-03-30 08:00+02:00"],
                 "2026-03-28 08:00+01:00")
    assert lev.time_h.tolist() == [0.0, 47.0]
    assert lev.clock([47.0]) == ["2026-03-30 07:00"]  # on the first dose's clock
    assert lev.hours("2026-03-30 08:00+02:00") == 47.0


def test_the_limit_message_names_the_limit_and_how_to_ask_for_less():
    msg = str(exceeded("doses", "a regimen of 20,000 doses"))
    assert msg.startswith("a regimen of 20,000 doses is above the 10,000 doses limit on the "
                          "number of doses")
    assert "leave out the length" in msg and "--" not in msg


def test_no_limit_message_names_a_command_line_option():
    for lim in LIMITS.values():
        assert "--" not in lim.ask_less + lim.why + lim.applies_to, lim.name


def test_the_limits_page_is_current():
    spec = importlib.util.spec_from_file_location("gen_limits_doc",
                                                  ROOT / "scripts" / "gen_limits_doc.py")
    gen = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_limits_doc", gen)
    spec.loader.exec_module(gen)
    doc = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")
    assert gen.update(doc) == doc, "run: python scripts/gen_limits_doc.py"


# --- the answer engine's own inputs ---------------------------------------------------------


@pytest.mark.parametrize("window", ["0-1e300h", "1e9h-2e9h", "0-20y"])
def test_huge_compare_windows_are_refused_before_any_grid(window):
    res = CliRunner().invoke(main, ["compare", "sirolimus 1 mg daily", "--window", window])
    assert res.exit_code == 2 and "Traceback" not in (res.stderr or "")
    assert "pkdose: error:" in res.stderr


def test_population_sizes_and_sampling_times_are_bounded_before_simulating():
    from pkdose.population import parse_times, simulate_population

    with pytest.raises(PkdoseError, match="subjects"):
        simulate_population("sirolimus 1 mg daily", 10**9)
    with pytest.raises(PkdoseError, match="limit"):
        parse_times("24,1e300")


# ---------------------------------------------------------------------------------------
# Recorded doses in a levels file: held to the limits of a regimen dose
# ---------------------------------------------------------------------------------------


def dose_rows(rows):
    return pd.DataFrame(rows, columns=["time", "conc_ng_ml", "dose_mg"])


@pytest.mark.parametrize(("rows", "match"), [
    ([(0, None, 1_000_000), (23, 5.1, None)], "row 1: a recorded dose of 1e\\+06 mg is above "
     "the 1000 mg limit on one dose"),
    ([(0, None, 2), (24, None, "inf"), (30, 5.1, None)], "row 2: a recorded dose of inf mg"),
    # 600 mg twice within 24 h: each dose is plausible, the day is not.
    ([(0, None, 600), (12, None, 600), (23, 5.1, None)], "1200 mg within 24 h from the "
     "recorded doses"),
    # The last recorded dose and the schedule resuming after it (2 mg daily) add up too.
    ([(12, None, 999.5), (14, 5.1, None)], "1001.5 mg within 24 h"),
])
def test_recorded_doses_are_held_to_the_dose_limits(rows, match):
    message = refused(individual.read_levels, dose_rows(rows), REG, match=match)
    assert "--" not in message


def test_a_recorded_dose_outside_the_model_range_warns():
    rows = dose_rows([(0, None, 80), (23, 5.1, None)])
    with pytest.warns(ExtrapolationWarning, match="recorded doses: sirolimus 80 mg per dose "
                      "lies outside the 1-60 mg range the wu2012 model"):
        individual.estimate("sirolimus 6 mg weekly", rows, "wu2012", n_proposals=500,
                            n_samples=100)


def test_the_command_line_refuses_a_recorded_dose_of_a_million_mg(tmp_path):
    path = tmp_path / "levels.csv"
    path.write_text("time,conc_ng_ml,dose_mg\n0,,1000000\n23,5.1,\n", encoding="utf-8")
    cli_refuses("individual", "--regimen", "sirolimus 6 mg weekly", "--levels", str(path),
                match="row 1: a recorded dose of 1e+06 mg")


def test_a_dose_interval_scan_too_large_is_refused_before_any_simulation():
    # '1-99999999999' built a list of 1e11 intervals before the library saw it (a hang).
    cli_refuses("design", "window", "--drug", "sirolimus", "--intervals", "1-99999999999",
                match="within 1-28")
    doses = ",".join(f"{0.1 * (i + 1):.1f}" for i in range(200))
    msg = cli_refuses("design", "window", "--drug", "sirolimus", "--doses", doses,
                      "--intervals", "1-14", match="limit on schedules")
    assert "200 doses x 14 intervals" in msg and "(option --doses, --intervals)" in msg
    from pkdose.design import therapeutic_window

    refused(therapeutic_window, "sirolimus", doses=[1.0] * 1001, intervals_days=[7.0],
            match="limit on schedules")
    msg = refused(therapeutic_window, "sirolimus", mtorc1=2.0, match="fraction")
    assert "--" not in msg  # a library message names no command-line flag


def test_a_negative_weight_is_refused_before_anything_is_derived_from_it():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 'invalid value encountered in sqrt' first
        refused(covariate_table, {"weight_kg": -5.0}, match="weight_kg=-5")


@pytest.mark.parametrize("args, message", [
    # A step longer than the run gave one row (the start) as the whole answer.
    (["simulate", "sirolimus 6 mg weekly", "--step", "2w", "--until", "1w"],
     "a time step of 336 h is longer than the 168 h simulated; give a shorter step "
     "(option --step, --until)"),
    # The window's order error named no option.
    (["compare", "sirolimus 6 mg weekly", "--window", "5w-1w"],
     "a window must satisfy 0 <= start < end, got 840-168 h (option --window)"),
])
def test_a_grid_or_window_the_wrong_way_round_is_one_line_naming_its_option(args, message):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == f"pkdose: error: {message}"


def test_a_step_equal_to_the_run_gives_both_ends():
    df = simulate("sirolimus 6 mg weekly", until_h=168.0, step_h=168.0)
    assert df["time_h"].tolist() == [0.0, 168.0]
