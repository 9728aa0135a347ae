"""The command line: results on stdout, messages on stderr, one-line errors with exit 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pkdose import NOTICE
from pkdose.cli import main
from pkdose.cli.options import parse_duration, parse_when

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run():
    def _run(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return _run


def test_simulate_writes_a_csv_curve_to_stdout_and_the_notice_to_stderr(run):
    res = run("simulate", "sirolimus 6 mg loading then 2 mg daily", "--until", "3d",
              "--step", "6h")
    assert res.exit_code == 0
    df = pd.read_csv(io.StringIO(res.stdout))
    assert list(df.columns) == ["time_h", "conc_ng_ml"]
    assert df["time_h"].tolist() == [6.0 * k for k in range(13)]
    assert df["conc_ng_ml"].iloc[0] == 0.0 and df["conc_ng_ml"].max() > 5
    assert NOTICE in res.stderr
    assert "note" not in res.stdout


def test_simulate_everolimus_default_model_also_gives_plasma(run):
    res = run("simulate", "everolimus 5 mg weekly", "--until", "1w", "--step", "1h")
    df = pd.read_csv(io.StringIO(res.stdout))
    assert list(df.columns) == ["time_h", "conc_ng_ml", "plasma_ng_ml"]
    assert (df["conc_ng_ml"] >= df["plasma_ng_ml"]).all()  # drug sits mostly in red cells


def test_simulate_writes_csv_and_plot_files(run, tmp_path):
    csv, png = tmp_path / "c.csv", tmp_path / "c.png"
    res = run("simulate", "rapamycin 1 mg daily", "--until", "2w", "--csv", str(csv),
              "--plot", str(png), "--log")
    assert res.exit_code == 0 and res.stdout == ""
    assert len(pd.read_csv(csv)) == 14 * 24 + 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_prints_one_aligned_row_per_regimen(run):
    res = run("compare", "rapamycin 1 mg daily", "rapamycin 6 mg weekly", "everolimus 5 mg weekly")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].startswith("regimen") and set(lines[1]) <= {"-", " "}
    # Each regimen's row, then the range over the models valid for it.
    rows, spans = lines[2:8:2], lines[3:8:2]
    assert [r.split("  ")[0] for r in rows] == ["sirolimus 1 mg daily", "sirolimus 6 mg weekly",
                                               "everolimus 5 mg weekly"]
    assert "wu2012" in rows[0] and "terheine2018" in rows[2]
    assert all("steady state" in r for r in rows)
    from pkdose.children import is_paediatric
    from pkdose.model import builtin_models

    n = {d: sum(m.drug == d and not is_paediatric(m) for m in builtin_models().values())
         for d in ("sirolimus", "everolimus")}
    assert [s.split("  ")[1] for s in spans] == [
        f"range over {n['sirolimus']} models"] * 2 + [f"range over {n['everolimus']} models"]
    end = lines[0].index("Ctrough") + len("Ctrough")  # numbers flush right under it
    assert all(s[end - 1] == "]" and r[end - 1].isdigit() for r, s in zip(rows, spans, strict=True))


def test_compare_writes_csv_json_and_overlay_plot(run, tmp_path):
    csv, js, png = tmp_path / "m.csv", tmp_path / "m.json", tmp_path / "m.png"
    res = run("compare", "sirolimus 1 mg daily", "sirolimus 5 mg weekly for 4 weeks",
              "--csv", str(csv), "--json", str(js), "--plot", str(png))
    assert res.exit_code == 0
    df = pd.read_csv(csv)
    assert df["basis"].tolist() == ["steady state", "first week"]
    payload = json.loads(js.read_text())
    assert payload["notice"] == NOTICE and len(payload["rows"]) == 2
    assert png.stat().st_size > 10_000


def test_covariates_and_param_overrides_change_the_prediction(run, tmp_path):
    def cavg(*extra):
        out = tmp_path / "m.csv"
        assert run("compare", *extra, "--csv", str(out)).exit_code == 0
        return pd.read_csv(out)["cavg_ng_ml"].iloc[0]

    base = cavg("sirolimus 2 mg daily")
    # Linear in clearance at steady state: half the clearance, twice the average.
    assert cavg("sirolimus 2 mg daily", "--param", "cl=6.45") == pytest.approx(2 * base, rel=1e-6)
    # de Wit 2016 scales CL/F with weight^0.75: 140 kg vs 70 kg lowers Cavg by 2^0.75.
    light = cavg("everolimus 5 mg daily", "--model", "dewit2016")
    heavy = cavg("everolimus 5 mg daily", "--model", "dewit2016", "--weight", "140")
    assert light / heavy == pytest.approx(2 ** 0.75, rel=1e-6)


@pytest.mark.parametrize("args,fragment", [
    (["simulate", "sirolimus 2 mgs daily"], "stopped at 'mgs'"),
    (["simulate", "aspirin 2 mg daily"], "unknown drug 'aspirin'"),
    (["simulate", "sirolimus -2 mg daily"], "must be positive"),
    (["simulate", "sirolimus 1 mg daily", "--until", "5x"], "cannot read --until '5x'"),
    (["simulate", "sirolimus 1 mg daily", "--step", "0"], "must be positive"),
    (["simulate", "sirolimus 1 mg daily", "--model", "nope"], "unknown model 'nope'"),
    (["simulate", "sirolimus 1 mg daily", "--model", "terheine2018"], "is for everolimus"),
    (["simulate", "sirolimus 1 mg daily", "--param", "cl"], "write NAME=VALUE"),
    (["simulate", "sirolimus 1 mg daily", "--param", "zz=1"], "has no parameter 'zz'"),
    (["simulate", "sirolimus 1 mg daily", "--weight", "0"], "weight_kg=0"),
    (["simulate", "sirolimus 1 mg daily", "--covariate", "shoe=9"], "unknown covariate"),
    (["simulate", "sirolimus 1 mg iv daily"], "oral dosing only"),
    (["simulate", "sirolimus 1 mg daily", "--step", "1s"], "cannot read --step"),
    (["simulate", "sirolimus 1 mg daily", "--until", "500w", "--step", "1min"], "output points"),
    (["compare", "sirolimus 1 mg daily", "--model", "/no/such/model.toml"], "not found"),
])
def test_bad_input_gives_one_line_and_exit_status_2(run, args, fragment):
    res = run(*args)
    assert res.exit_code == 2
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("pkdose: error:")]
    assert len(errors) == 1 and fragment in errors[0], res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_extrapolation_is_warned_on_stderr(run):
    res = run("simulate", "sirolimus 90 mg weekly", "--until", "1d")
    assert res.exit_code == 0
    assert "outside the 1-60 mg range" in res.stderr


def test_models_lists_every_model_with_its_source(run):
    res = run("models")
    assert res.exit_code == 0
    for name in ("wu2012 (default)", "terheine2018 (default)", "dewit2016", "golubovic2019"):
        assert name in res.stdout
    assert "doi:10.1038/psp.2012.18" in res.stdout
    only = run("models", "--drug", "rapamycin")
    assert "wu2012" in only.stdout and "terheine2018" not in only.stdout


def test_every_command_has_help_with_an_example(run):
    for cmd in ("simulate", "compare", "models", "flag", "references", "interactions"):
        res = run(cmd, "--help")
        assert res.exit_code == 0 and "Example" in res.stdout


@pytest.mark.parametrize("text,hours", [("12w", 2016), ("84d", 2016), ("36h", 36), ("30min", 0.5),
                                        ("2.5", 2.5), ("1 week", 168)])
def test_durations_read_as_users_write_them(text, hours):
    assert parse_duration(text, "--until") == pytest.approx(hours)


def test_options_read_durations_with_the_time_units_of_regimen_text():
    # One vocabulary: what a regimen says ("for 2 wks", "every 23 min") an option takes,
    # in the same hours (minutes divided, so 23 min is the float nearest 23/60).
    from pkdose.regimen_text import hours_of

    for text, value, unit in (("2wks", 2, "wks"), ("23min", 23, "min"), ("3 months", 3, "months")):
        assert parse_duration(text, "--until") == hours_of(value, unit)
    assert parse_duration("23min", "--step") == 23 / 60


def test_python_dash_m_pkdose_runs_the_cli():
    res = subprocess.run([sys.executable, "-m", "pkdose", "models"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and "wu2012" in res.stdout


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["compare", "--help"]])
def test_version_and_help_import_no_numpy_pandas_scipy_or_matplotlib(args):
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "pkdose", *args],
                         capture_output=True, text=True, timeout=120)
    imported = {line.split("|")[-1].strip() for line in res.stderr.splitlines()
                if line.startswith("import time:")}
    assert res.returncode == 0 and "pkdose.cli" in imported
    heavy = {m for m in imported if m.split(".")[0] in ("numpy", "pandas", "scipy", "matplotlib")}
    assert not heavy


def test_compare_without_plot_imports_no_matplotlib():
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "pkdose", "compare",
                          "rapamycin 1 mg daily"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    assert "matplotlib" not in res.stderr and "pkdose.plotting" not in res.stderr


def test_regimens_can_come_from_toml_files_and_event_tables(run, tmp_path):
    from pkdose.regimen_io import regimen_to_events, write_regimen_toml
    from pkdose.regimen_text import parse_regimen

    toml = tmp_path / "weekly.toml"
    write_regimen_toml(parse_regimen("sirolimus 6 mg weekly"), toml)
    events = pd.concat([regimen_to_events(parse_regimen("sirolimus 1 mg daily"), id=1),
                        regimen_to_events(parse_regimen("sirolimus 2 mg daily"), id=2)])
    csv = tmp_path / "events.csv"
    events.to_csv(csv, index=False)
    res = run("compare", str(toml), str(csv))
    assert res.exit_code == 0, res.stderr
    rows = [ln.split("  ")[0] for ln in res.stdout.splitlines()[2:8:2]]  # range rows between
    assert rows == ["sirolimus 6 mg weekly", "sirolimus 1 mg daily", "sirolimus 2 mg daily"]
    one = run("simulate", str(toml), "--until", "1d")
    assert one.exit_code == 0
    two = run("simulate", str(csv), "--until", "1d")
    assert two.exit_code == 2 and "holds 2 regimens" in two.stderr


def test_reference_bands_are_drawn_and_bad_bands_rejected(run, tmp_path):
    png = tmp_path / "b.png"
    ok = run("compare", "everolimus 0.75 mg twice daily", "--band", "3-8:target trough",
             "--plot", str(png))
    assert ok.exit_code == 0 and png.exists()
    bad = run("compare", "everolimus 0.75 mg twice daily", "--band", "8-3", "--plot", str(png))
    assert bad.exit_code == 2 and "cannot read --band" in bad.stderr


def test_compare_window_option(run, tmp_path):
    out = tmp_path / "w.csv"
    res = run("compare", "sirolimus 1 mg daily", "--window", "1w-2w", "--csv", str(out))
    assert res.exit_code == 0
    assert pd.read_csv(out)["basis"].tolist() == ["window 168-336 h"]
    bad = run("compare", "sirolimus 1 mg daily", "--window", "2w")
    assert bad.exit_code == 2 and "write START-END" in bad.stderr


def test_flag_prints_a_verdict_with_reasons_per_regimen(run, tmp_path):
    js = tmp_path / "f.json"
    res = run("flag", "sirolimus 2 mg daily", "everolimus 5 mg weekly", "--json", str(js))
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0] == "sirolimus 2 mg daily: inhibited"
    assert any(ln == "everolimus 5 mg weekly: spared" for ln in lines)
    assert sum(ln.startswith("  - ") for ln in lines) >= 6
    payload = json.loads(js.read_text())
    assert payload["regimens"][0]["verdict_by_turnover_half_life_h"] == {
        "48": "inhibited", "96": "inhibited", "168": "inhibited"}


def test_compare_shows_mtor_columns_and_draws_the_pd_panel(run, tmp_path):
    png = tmp_path / "p.png"
    res = run("compare", "sirolimus 1 mg daily", "everolimus 5 mg weekly", "--plot", str(png),
              "--pd")
    assert res.exit_code == 0
    assert "mTORC2 verdict" in res.stdout.splitlines()[0]
    assert res.stdout.splitlines()[4].rstrip().endswith("spared")  # under the range row
    assert png.stat().st_size > 20_000
    sim = run("simulate", "sirolimus 6 mg weekly", "--until", "2w", "--plot", str(png), "--pd")
    assert sim.exit_code == 0


def test_with_applies_the_cited_interaction_to_every_command(run, tmp_path):
    out = tmp_path / "k.csv"
    base = tmp_path / "b.csv"
    assert run("compare", "everolimus 2 mg daily", "--csv", str(base)).exit_code == 0
    res = run("compare", "everolimus 2 mg daily", "--with", "ketoconazole", "--csv", str(out))
    assert res.exit_code == 0 and "everolimus 2 mg daily with ketoconazole" in res.stdout
    ratio = (pd.read_csv(out)["plasma_cavg_ng_ml"] / pd.read_csv(base)["plasma_cavg_ng_ml"])[0]
    assert ratio == pytest.approx(15.0, rel=1e-6)  # Kovarik 2005 AUC ratio, by construction
    flagged = run("flag", "everolimus 2 mg daily", "--with", "ketoconazole")
    assert flagged.stdout.startswith("everolimus 2 mg daily with ketoconazole: inhibited")
    bad = run("simulate", "everolimus 2 mg daily", "--with", "aspirin")
    assert bad.exit_code == 2 and "aspirin" in bad.stderr


def test_references_list_and_show(run):
    res = run("references", "--purpose", "ageing-trial")
    assert res.exit_code == 0
    names = [ln.split()[0] for ln in res.stdout.splitlines()]
    assert "kraig2018" in names and "mannick2014/ev-5mg-weekly" in names
    assert all("ageing-trial" in ln for ln in res.stdout.splitlines())
    one = run("references", "show", "afinitor-10mg-daily")
    assert one.exit_code == 0 and "NDA 022334" in one.stdout and "12.9 ng/mL" in one.stdout
    missing = run("references", "show", "nope")
    assert missing.exit_code == 2
    ageing = run("references", "--purpose", "ageing").stdout  # both ageing purposes
    assert "kraig2018" in ageing and "planned-ageing-trials-sirolimus/siro-1mg-daily" in ageing
    # The regimen text names its co-medication; the list appended it a second time.
    onc = run("references", "--purpose", "oncology").stdout
    line = next(ln for ln in onc.splitlines() if ln.startswith("cohen2012/with-ketoconazole "))
    assert line.endswith("sirolimus 16 mg weekly with ketoconazole")


def test_interactions_lists_the_layer(run):
    res = run("interactions", "--drug", "sirolimus")
    assert res.exit_code == 0 and "grapefruit-juice" in res.stdout and "ketoconazole" in res.stdout


def test_compare_against_reference_groups(run, tmp_path):
    js, png = tmp_path / "a.json", tmp_path / "a.png"
    res = run("compare", "sirolimus 6 mg weekly", "--against", "transplant,ageing",
              "--json", str(js), "--plot", str(png))
    assert res.exit_code == 0
    assert "nearest reference by exposure is" in res.stdout
    assert "rapamune-kidney-csa: sirolimus 6 mg loading then 2 mg daily with ciclosporin" in \
        res.stdout
    payload = json.loads(js.read_text())
    roles = {r["role"] for r in payload["rows"]}
    assert roles == {"regimen", "reference"} and payload["nearest"]
    assert png.stat().st_size > 20_000
    bad = run("compare", "sirolimus 6 mg weekly", "--against", "nope")
    assert bad.exit_code == 2 and "unknown reference group" in bad.stderr


def test_a_folder_given_as_a_regimen_is_named_a_folder(run, tmp_path):
    # It was read as regimen text: "unknown drug '/tmp/...'".
    res = run("compare", str(tmp_path))
    assert res.exit_code == 2 and f"{tmp_path} is a folder" in res.stderr


def test_param_overrides_stay_with_the_chosen_model_and_its_drug(run, tmp_path):
    # --param cl=20 named wu2012's cl and was also given to everolimus's terheine2018, which
    # has no cl: the whole comparison (and its figure) failed.
    for cmd, *more in (("compare", "--plot", str(tmp_path / "cmp.png"), "--until", "1w"),
                       ("flag",)):
        res = run(cmd, "sirolimus 6 mg weekly", "everolimus 5 mg weekly", "--model", "wu2012",
                  "--param", "cl=20", *more)
        assert res.exit_code == 0, res.stderr
    alone = run("compare", "sirolimus 6 mg weekly", "--model", "wu2012", "--param", "cl=20")
    both = run("compare", "sirolimus 6 mg weekly", "everolimus 5 mg weekly", "--model",
               "wu2012", "--param", "cl=20")
    assert alone.stdout.splitlines()[2].split() == both.stdout.splitlines()[2].split()
    assert "everolimus 5 mg weekly  terheine2018" in both.stdout
    # A model of no regimen's drug was ignored without a word (and its --param with it).
    for cmd in ("compare", "flag"):
        res = run(cmd, "sirolimus 6 mg weekly", "--model", "terheine2018")
        assert res.exit_code == 2 and "terheine2018 is for everolimus, not sirolimus" in res.stderr


def test_reference_files_used_as_regimens_warn_what_is_left_out(run):
    res = run("compare", str(ROOT / "regimens" / "rapamune-kidney-csa.toml"),
              str(ROOT / "regimens" / "chung2019-topical.toml"))
    assert res.exit_code == 0
    # The file's ciclosporin is part of its regimen, applied as `report` applies it.
    assert "not applied" not in res.stderr
    assert "sirolimus 6 mg loading then 2 mg daily with ciclosporin" in res.stdout
    assert "applied to the skin with no systemic exposure" in res.stderr


def test_references_show_gives_a_lifespan_study_its_species_and_results(run):
    res = run("references", "show", "chen2009")
    assert res.exit_code == 0
    assert "species: mouse" in res.stdout and "extended (no number)" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rapamycin 14 ppm diet", "--to", "mouse"], "give --from human"),
        (["sirolimus 1 mg daily", "--from", "human", "--to", "human"], "--to mouse"),
        # --weight was ignored with --from human (the human answer was for 70 kg).
        (["sirolimus 1 mg daily", "--from", "human", "--weight", "90"], "give none of them"),
    ],
)
def test_translate_direction_errors_exit_2(run, args, message):
    res = run("translate", *args)
    assert res.exit_code == 2 and message in res.stderr


def test_translate_from_human_lists_the_lifespan_library_and_draws_the_figure(run, tmp_path):
    fig = tmp_path / "lifespan.png"
    res = run("translate", "sirolimus 6 mg weekly", "--from", "human", "--plot", str(fig))
    assert res.exit_code == 0, res.stderr
    assert "not medical advice" in res.stderr
    assert "arriolaapelo2016" in res.stdout and "Caveats:" in res.stdout
    assert fig.read_bytes()[:4] == b"\x89PNG"


def test_simulate_takes_a_mouse_diet_with_species_and_a_human_model_refuses_it(run):
    ok = run("simulate", "rapamycin 14 ppm diet", "--species", "mouse", "--until", "2d")
    assert ok.exit_code == 0 and ok.stdout.startswith("time_h,conc_ng_ml")
    bad = run("simulate", "rapamycin 14 ppm diet", "--until", "2d")
    assert bad.exit_code == 2 and "(option --species)" in bad.stderr


def test_flag_judges_a_mouse_regimen_with_species(run):
    res = run("flag", "rapamycin 2 mg/kg ip every 5 days", "--species", "mouse")
    assert res.exit_code == 0
    assert res.stdout.startswith("sirolimus 2 mg/kg every 120 h ip: ")
    assert "48 h mTORC2 turnover half-life" in res.stdout


# --- individual ----------------------------------------------------------------------------


@pytest.fixture
def levels_csv(tmp_path):
    path = tmp_path / "levels.csv"
    path.write_text("time,conc_ng_ml\n2026-03-16 10:00,24.0\n2026-03-17 08:00,7.9\n"
                    "2026-03-23 07:30,2.4\n")
    return str(path)


def test_individual_reports_fit_exposure_target_and_missed_dose(run, levels_csv, tmp_path):
    plot = tmp_path / "fit.png"
    curve = tmp_path / "curve.csv"
    res = run("individual", "--regimen", "sirolimus 6 mg weekly", "--levels", levels_csv,
              "--first-dose", "2026-03-02 08:00", "--covariates", "age=67,weight=82,hct=41",
              "--target", "trough 5-10", "--missed", "2026-03-30", "--plot", str(plot),
              "--csv", str(curve))
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    for text in ("Individual parameters", "CL/F (apparent)", "2026-03-17 08:00",
                 "mTORC2 verdict", "Target 'trough 5-10'", "best: sirolimus",
                 "skip it, next dose as scheduled", "not advice"):
        assert text in out
    assert NOTICE in res.stderr
    assert plot.stat().st_size > 10_000
    df = pd.read_csv(curve)
    assert {"time_h", "time", "conc_ng_ml", "p5", "p95", "typical_ng_ml"} <= set(df.columns)


@pytest.mark.parametrize("extra, msg", [
    (("--target", "trough"), "cannot read target"),
    (("--late", "2026-03-30"), "--late needs the delay"),
    (("--covariates", "age"), "NAME=VALUE"),
])
def test_individual_bad_options_exit_2_with_one_line(run, levels_csv, extra, msg):
    res = run("individual", "--regimen", "sirolimus 6 mg weekly", "--levels", levels_csv,
              "--first-dose", "2026-03-02 08:00", *extra)
    assert res.exit_code == 2
    assert msg in res.stderr and "Traceback" not in res.stderr


def test_individual_names_the_course_its_exposure_summarises(run, levels_csv):
    # A regimen with a missed week has no steady state: the engine summarises the whole
    # course, which the report called "steady state".
    res = run("individual", "--regimen", "sirolimus 6 mg weekly, missed week 3", "--levels",
              levels_csv, "--first-dose", "2026-03-02 08:00")
    assert res.exit_code == 0, res.stderr
    assert "missed week 3 (course 0-672 h; a new occasion)" in res.stdout


def test_individual_clock_times_need_a_first_dose(run, levels_csv):
    res = run("individual", "--regimen", "sirolimus 6 mg weekly", "--levels", levels_csv)
    assert res.exit_code == 2 and "time of the first dose" in res.stderr


def test_when_parses_dates_with_a_delay():
    assert parse_when("2026-03-09+12h") == ("2026-03-09", 12.0)
    assert parse_when("2026-03-09 08:00") == ("2026-03-09 08:00", None)


def test_library_errors_name_no_option_and_the_cli_adds_its_own(run):
    import re
    from pathlib import Path

    import pkdose

    # No message string of the library names a command-line option.
    lib = Path(pkdose.__file__).parent
    for path in lib.glob("*.py"):
        for line in path.read_text().splitlines():
            if "PkdoseError(" in line or "warn(" in line:
                assert not re.search(r"--[a-z]", line), f"{path.name}: {line.strip()}"
    res = run("simulate", "rapamycin 14 ppm diet")
    assert res.exit_code == 2 and "(option --species)" in res.stderr
    res = run("simulate", "rapamycin 1 mg daily", "--until", "500w", "--step", "1min")
    assert res.exit_code == 2 and "(option --step, --until)" in res.stderr


@pytest.mark.parametrize(("args", "flag"), [
    # These named a library parameter no hand-kept table mapped to its option.
    (["references", "--purpose", "nope"], "--purpose"),
    (["population", "sirolimus 1 mg daily", "--n", "5", "--observe", "23", "--lloq", "-1"],
     "--lloq"),
    (["simulate", "sirolimus 1 mg daily", "--fed", "--covariate", "fed=no"], "--fed"),
    (["design", "window", "--drug", "sirolimus", "--spared", "2"], "--spared"),
    # A covariate a model does not take points to the option that gave it.
    (["simulate", "sirolimus 1 mg daily", "--food", "5"], "--food"),
    (["simulate", "rapamycin 14 ppm diet", "--species", "mouse", "--age", "6"], "--age"),
])
def test_an_error_names_the_option_of_the_parameter_it_names(run, args, flag):
    res = run(*args)
    assert res.exit_code == 2 and res.stderr.rstrip().endswith(f"(option {flag})")


def test_an_unforeseen_failure_is_one_line_and_exit_3(run, monkeypatch):
    import pkdose.comparison

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pkdose.comparison, "compare", broken)
    res = run("compare", "sirolimus 1 mg daily")
    assert res.exit_code == 3
    assert "internal error (ZeroDivisionError" in res.stderr and "bug" in res.stderr
    assert "Traceback" not in res.stderr


def test_the_curated_api_is_complete_and_lazy():
    import subprocess

    import pkdose

    for name in pkdose.__all__:
        assert getattr(pkdose, name) is not None, name
    code = ("import sys, pkdose; "
            "assert not any(m.startswith(('numpy', 'pandas')) for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_covariate_given_by_option_and_by_name_is_given_once(run):
    # --weight 80 --covariate weight=90 let the covariate silently win.
    bad = run("compare", "sirolimus 1 mg daily", "--weight", "80", "--covariate", "weight=90")
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        "pkdose: error: weight_kg is given twice (80.0 and 90); give it once (option --weight)")
    same = run("compare", "sirolimus 1 mg daily", "--weight", "80", "--covariate", "weight=80")
    alone = run("compare", "sirolimus 1 mg daily", "--weight", "80")
    assert same.exit_code == 0 and same.stdout == alone.stdout
