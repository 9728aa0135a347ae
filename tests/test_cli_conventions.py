"""Command-line conventions: ``-`` is stdout for every output option, ``--precision`` for
every CSV, progress that suits a log, reference warnings folded into one line, and no
nan/inf/None in any text a command prints (docs/cli.md, "Output conventions")."""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pkdose.cli import main
from pkdose.cli.options import FULL_PRECISION, parse_precision
from pkdose.cli.progress import ProgressBar
from pkdose.errors import ExtrapolationWarning, PkdoseError, warning_messages
from pkdose.results import format_value, number

ROOT = Path(__file__).resolve().parents[1]
LEVELS = str(ROOT / "docs" / "examples" / "individual-levels.csv")
INDIVIDUAL = ["individual", "--regimen", "sirolimus 6 mg weekly", "--levels", LEVELS,
              "--first-dose", "2026-03-02 08:00"]
SMALL_POP = ["--n", "30"]


def invoke(args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --- "-" is stdout -------------------------------------------------------------------------

#: Every option that writes a text file, with a run that uses it and a column of the CSV
#: it writes (or "json").
TEXT_OUTPUTS = [
    (["simulate", "sirolimus 1 mg daily", "--until", "1d", "--csv", "-"], "time_h"),
    (["compare", "sirolimus 1 mg daily", "--csv", "-"], "regimen"),
    (["compare", "sirolimus 1 mg daily", "--json", "-"], "json"),
    (["flag", "sirolimus 6 mg weekly", "--json", "-"], "json"),
    (["population", "sirolimus 6 mg weekly", *SMALL_POP, "--csv", "-"], "regimen"),
    (["population", "sirolimus 6 mg weekly", *SMALL_POP, "--observe", "23",
      "--observe-csv", "-"], "regimen"),
    ([*INDIVIDUAL, "--csv", "-"], "time_h"),
    (["design", "arms", "sirolimus 5 mg weekly", "sirolimus 10 mg weekly", *SMALL_POP,
      "--trials", "20", "--csv", "-"], "metric"),
    (["design", "window", "--drug", "sirolimus", "--doses", "1,5", "--intervals", "1,7",
      "--n", "5", "--csv", "-"], "dose_mg"),
    (["translate", "rapamycin 14 ppm diet", "--csv", "-"], "regimen"),
]


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
@pytest.mark.parametrize("args, first", TEXT_OUTPUTS, ids=lambda a: " ".join(a)[:40]
                         if isinstance(a, list) else a)
def test_dash_writes_clean_data_to_stdout_and_the_text_to_stderr(args, first, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke(args)
    assert res.exit_code == 0, res.stderr
    if first == "json":
        assert isinstance(json.loads(res.stdout), dict)
    else:
        df = pd.read_csv(io.StringIO(res.stdout))
        assert first in df.columns and len(df)
    assert not (tmp_path / "-").exists()  # no file named "-"
    assert "wrote -" not in res.stderr


def test_the_table_moves_to_stderr_when_data_has_stdout():
    plain = invoke(["compare", "sirolimus 1 mg daily"])
    piped = invoke(["compare", "sirolimus 1 mg daily", "--csv", "-"])
    assert plain.stdout.splitlines()[0].startswith("regimen  ")
    assert plain.stdout in piped.stderr and plain.stdout not in piped.stdout


def test_every_text_output_option_is_covered():
    """A new file option must take '-' (and join TEXT_OUTPUTS) or be a figure or an input."""
    def options(cmd, path=()):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from options(sub, (*path, name))
        for p in cmd.params:
            if isinstance(p, click.Option) and isinstance(p.type, click.Path) \
                    and not p.type.dir_okay:
                yield (*path, p.opts[0])

    tested = {(a[0], a[1] if a[0] == "design" else None, opt) for a, _ in TEXT_OUTPUTS
              for opt in a if opt.startswith("--") and a[a.index(opt) + 1] == "-"}
    tested = {(c, o) if s is None else (c, s, o) for c, s, o in tested}
    figures, inputs = {"--plot"}, {"--levels"}
    for opt in options(main):
        if opt[-1] in figures | inputs or opt == ("validate", "--out"):
            continue
        assert opt in tested, f"{' '.join(opt)} is not tested with '-'"


@pytest.mark.parametrize("args", [
    ["simulate", "sirolimus 1 mg daily"], ["compare", "sirolimus 1 mg daily"],
    ["population", "sirolimus 1 mg daily"], [*INDIVIDUAL], ["translate", "rapamycin 14 ppm diet"],
    ["design", "window", "--drug", "sirolimus"]], ids=lambda a: a[0])
def test_a_figure_to_stdout_is_refused_in_one_line_before_any_work(args):
    res = invoke([*args, "--plot", "-"])
    assert res.exit_code == 2 and res.stdout == ""
    err = res.stderr.strip().splitlines()
    assert err[-1].startswith("pkdose: error: --plot - : a figure cannot go to stdout")
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("name", ["fig.txt", "fig"])
def test_a_figure_format_matplotlib_cannot_write_is_refused_before_any_work(name, tmp_path):
    # It was refused by matplotlib at the end, after the curve had gone to stdout.
    res = invoke(["simulate", "sirolimus 1 mg daily", "--until", "1d", "--plot",
                  str(tmp_path / name)])
    assert res.exit_code == 2 and res.stdout == ""
    assert "name the figure format by its ending, one of" in res.stderr
    assert ".png" in res.stderr and "Traceback" not in res.stderr


def test_two_outputs_on_stdout_are_refused():
    res = invoke(["compare", "sirolimus 1 mg daily", "--csv", "-", "--json", "-"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "--csv and --json both ask for stdout" in res.stderr


def test_validate_check_needs_a_file():
    res = invoke(["validate", "--check", "--out", "-"])
    assert res.exit_code == 2 and "give --out FILE" in res.stderr


# --- --precision -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, spec", [("full", FULL_PRECISION), ("FULL", "%.17g"),
                                        ("%.10g", "%.10g"), (" %.4e ", "%.4e"),
                                        ("%.3f", "%.3f"), ("%.17G", "%.17G")])
def test_precision_specs(text, spec):
    assert parse_precision(text) == spec


@pytest.mark.parametrize("text", ["%.3q", "%.18g", "10", "%d", "%.0g", "%10g", "%.10g%s",
                                  "", "%s"])
def test_bad_precision_is_one_line(text):
    with pytest.raises(PkdoseError, match="cannot read --precision"):
        parse_precision(text)


def test_full_precision_reads_back_every_bit():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-300, 300, 2000),
                        [np.pi, 1 / 3, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]])
    assert all(float(FULL_PRECISION % v) == v for v in x)


def test_simulate_full_precision_is_the_library_curve_exactly():
    from pkdose.simulation import simulate

    want = simulate("sirolimus 6 mg weekly", until_h=48, step_h=0.7)
    res = invoke(["simulate", "sirolimus 6 mg weekly", "--until", "48h", "--step", "42min",
                  "--precision", "full"])
    got = pd.read_csv(io.StringIO(res.stdout))
    assert np.array_equal(got["conc_ng_ml"].to_numpy(), want["conc_ng_ml"].to_numpy())
    default = invoke(["simulate", "sirolimus 6 mg weekly", "--until", "48h", "--step", "42min"])
    assert default.stdout == want.to_csv(index=False, float_format="%.6g")  # unchanged


def test_compare_csv_precision_full_and_a_spec():
    from pkdose.comparison import compare

    want = compare(["sirolimus 1 mg daily"]).frame
    full = pd.read_csv(io.StringIO(invoke(["compare", "sirolimus 1 mg daily", "--csv", "-",
                                           "--precision", "full"]).stdout))
    for col in ("cmax_ng_ml", "auc168_ng_h_ml", "mtorc2_mean", "rac"):
        assert full[col].iloc[0] == want[col].iloc[0]
    short = invoke(["compare", "sirolimus 1 mg daily", "--csv", "-", "--precision", "%.3g"])
    assert f",{want['auc168_ng_h_ml'].iloc[0]:.3g}," in short.stdout


def test_one_csv_writer_serves_every_command():
    for path in (ROOT / "pkdose" / "cli").glob("*.py"):
        if path.name != "output.py":
            assert ".to_csv(" not in path.read_text(encoding="utf-8"), path.name


# --- progress ----------------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _bar(tty, clock, **kw):
    bar = ProgressBar("arm 1/1", **kw)
    bar.tty, bar.clock, bar.start = tty, clock, clock()
    return bar


def test_progress_in_a_log_is_plain_lines_every_few_seconds(capsys):
    clock = FakeClock()
    bar = _bar(False, clock, after_s=2.0, every_s=10.0)
    for done in range(1, 121):  # one unit per second for two minutes
        clock.t += 1.0
        bar(done, 120)
    bar.close()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and err.endswith("\n")
    assert 10 <= len(lines) <= 13  # about one line per 10 s, and the last
    assert lines[0].startswith("[arm 1/1] 2/120 subjects") and "120/120 subjects" in lines[-1]


def test_a_quick_run_writes_no_progress(capsys):
    clock = FakeClock()
    for tty in (False, True):
        bar = _bar(tty, clock)
        for done in range(1, 11):
            clock.t += 0.1
            bar(done, 10)
        bar.close()
    assert capsys.readouterr().err == ""


def test_progress_on_a_terminal_is_one_bar_that_ends_its_line(capsys):
    clock = FakeClock()
    bar = _bar(True, clock, after_s=0.0)
    for done in range(1, 5):
        clock.t += 1.0
        bar(done, 4)
    bar.close()  # the line already ended at 4/4
    err = capsys.readouterr().err
    assert err.count("\r") == 4 and err.count("\n") == 1 and err.endswith("4/4 subjects, 1/s\n")
    bar = _bar(True, clock, after_s=0.0)
    bar(1, 4)
    bar.close()  # stopped short: close ends the line
    assert capsys.readouterr().err.endswith("\n")


# --- reference warnings ------------------------------------------------------------------------

def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_references_outside_their_data_are_one_line_and_the_users_regimen_keeps_its_own():
    res = invoke(["compare", "sirolimus 90 mg weekly", "everolimus 5 mg weekly",
                  "--against", "all"])
    assert res.exit_code == 0
    lines = _warnings(res.stderr)
    assert len(lines) == 3, lines
    assert "sirolimus 90 mg per dose lies outside" in lines[0]  # the user's regimen
    # ... and the other models of its range, in one line
    assert lines[1].startswith("warning: the model range of sirolimus 90 mg weekly includes ")
    m = re.fullmatch(r"warning: (\d+) reference regimens lie outside their model's data .*: "
                     r"(.*); see pkdose references show NAME", lines[2])
    assert m and int(m.group(1)) >= 10
    assert "odonnell2008 (4 arms)" in m.group(2) and "cohen2012/sirolimus-alone" in m.group(2)


def test_a_run_against_references_inside_their_data_does_not_warn():
    res = invoke(["compare", "sirolimus 1 mg daily", "--against", "transplant"])
    assert _warnings(res.stderr) == []


def test_place_warns_once_for_all_references():
    from pkdose.comparison import compare, parse_against, place

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        place(compare(["everolimus 5 mg weekly"]), parse_against("oncology"))
    msgs = [str(w.message) for w in caught if issubclass(w.category, ExtrapolationWarning)]
    assert len(msgs) == 1 and msgs[0].startswith("7 reference regimens lie outside")


def test_warning_messages_collects_once_and_lets_other_warnings_through():
    with pytest.warns(RuntimeWarning, match="other"):
        with warning_messages() as msgs:
            warnings.warn("a", ExtrapolationWarning, stacklevel=1)
            warnings.warn("a", ExtrapolationWarning, stacklevel=1)
            warnings.warn("other", RuntimeWarning, stacklevel=1)
            warnings.warn("b", ExtrapolationWarning, stacklevel=1)
    assert msgs == ["a", "b"]


# --- n/a, never nan ---------------------------------------------------------------------------

def test_number_and_format_value_say_n_a_for_undefined_values():
    for bad in (float("nan"), float("inf"), -float("inf"), None, "x"):
        assert number(bad) == "n/a" and number(bad, ".0f", "%") == "n/a"
    assert number(2.345, ".2f", "ng/mL") == "2.35 ng/mL"
    assert format_value(float("inf"), "ng/mL") == format_value(float("nan"), "%") == "n/a"


#: Runs that produce undefined values, and the phrase saying why where a legend exists: a
#: regimen that stops (Rac, T90ss), a window long after the last dose (levels near zero),
#: identical or wildly different arms (sample size, t-test power), lifespan studies
#: without a median figure, interactions without a Cmax ratio.
UNDEFINED = [
    (["compare", "sirolimus 6 mg once", "sirolimus 2 mg daily x 5", "--window", "5w-6w",
      "--against", "transplant"], None),
    (["compare", "everolimus 5 mg once", "--window", "40w-41w", "--against", "all"], None),
    (["flag", "sirolimus 6 mg once", "sirolimus 2 mg daily x 3", "sirolimus 0.001 mg weekly"],
     None),
    (["flag", "rapamycin 14 ppm diet", "--species", "mouse"], None),
    (["population", "sirolimus 6 mg once", *SMALL_POP, "--target", "trough<3", "--target",
      "median Cavg>=2", "--observe", "23.5,400"], None),
    (["population", "sirolimus 0.001 mg once", *SMALL_POP, "--target", "trough<3"], None),
    ([*INDIVIDUAL, "--target", "trough 5-10", "--late", "2026-03-09+12h"], None),
    (["individual", "--regimen", "sirolimus 2 mg daily x 3", "--levels", LEVELS,
      "--first-dose", "2026-03-14 08:00", "--target", "AUC168 400"], None),
    (["design", "arms", "sirolimus 5 mg weekly", "sirolimus 5 mg weekly", *SMALL_POP,
      "--trials", "20"], None),
    (["design", "arms", "sirolimus 2 mg daily x 3", "sirolimus 0.0001 mg once", *SMALL_POP,
      "--trials", "20", "--metric", "trough"], None),
    (["design", "window", "--drug", "sirolimus", "--doses", "0.001,1", "--intervals", "1,14",
      "--n", "5"], None),
    (["design", "find-dose", "--drug", "sirolimus", "--schedule", "weekly", "--target",
      "median Cavg=2", "--n", "30"], None),
    (["translate", "rapamycin 14 ppm diet"], None),
    (["translate", "sirolimus 6 mg once", "--from", "human"],
     "n/a in Δ median %: the study reports a longer life without a median figure"),
    (["interactions"], "n/a: not reported by the source"),
    # No temsirolimus source reports a trough ratio: that column printed None.
    (["interactions", "--drug", "temsirolimus"], "n/a: not reported by the source"),
    (["references", "show", "miller2011"], None),
    (["models"], None),
]
UNDEFINED_TOKEN = re.compile(r"(?<![\w.])(nan|NaN|NAN|-?inf|-?Inf|None|null)(?![\w])")


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
@pytest.mark.parametrize("args, why", UNDEFINED, ids=lambda a: " ".join(a)[:50]
                         if isinstance(a, list) else None)
def test_no_text_output_prints_nan_inf_or_none(args, why):
    res = invoke(args)
    assert res.exit_code == 0, res.stderr
    bad = [line for line in res.stdout.splitlines() if UNDEFINED_TOKEN.search(line)]
    assert not bad, bad
    if why:
        assert "n/a" in res.stdout and why in res.stdout + res.stderr


def test_an_undefined_t_test_power_is_n_a_with_why():
    from pkdose.cli.design import format_arms

    row = {"higher_arm": "a", "lower_arm": "b", "metric": "ctrough_ng_ml", "n": 30,
           "model": "wu2012", "median_higher": 0.7, "median_lower": 0.0, "gmr": np.inf,
           "sd_log": 0.9, "p_higher": 1.0, "p_higher_normal": np.nan, "power": 0.8,
           "alpha": 0.05, "n_per_arm": 2.0, "power_t": np.nan, "power_simulated": 1.0,
           "n_trials": 20, "same_regimen": False, "separable": True, "delta_log": 5.0,
           "se_delta_log": 0.1, "n_per_arm_low": 2.0, "n_per_arm_high": 2.0}
    text = format_arms(pd.DataFrame([row]))
    assert not UNDEFINED_TOKEN.search(text)
    assert "power at that n: n/a (the noncentral t distribution did not evaluate" in text
    assert "geometric mean ratio n/a" in text and "(log-normal theory n/a)" in text


def test_band_is_an_option_of_the_commands_that_draw_curves_only():
    # flag accepted --band and drew nothing.
    res = CliRunner().invoke(main, ["flag", "sirolimus 1 mg daily", "--band", "3-8"])
    assert res.exit_code == 2 and "No such option" in res.output
    from pkdose.cli.compare import compare
    from pkdose.cli.simulate import simulate

    for cmd in (simulate, compare):
        assert "band" in {p.name for p in cmd.params}
