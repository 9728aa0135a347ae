"""Batch reports: every good regimen reported, bad files listed, HTML self-contained."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pkdose import NOTICE
from pkdose.cli import main
from pkdose.report import COLUMNS, GENERATED_PREFIX, build_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GOOD_IDS = ["a-weekly", "b-everolimus", "events-1", "events-2"]


def _batch(root: Path, broken: bool = True) -> Path:
    """Two regimen TOMLs, an event table with two IDs and (optionally) one broken file."""
    folder = root / "batch"
    folder.mkdir(parents=True)
    (folder / "a-weekly.toml").write_text('drug = "sirolimus"\nregimen = "6 mg weekly"\n')
    (folder / "b-everolimus.toml").write_text(
        'drug = "everolimus"\nregimen = "everolimus 5 mg daily"\n')
    (folder / "events.csv").write_text(
        "ID,TIME,AMT,II,ADDL,DRUG\n1,0,2,24,-1,sirolimus\n2,0,5,168,-1,everolimus\n")
    if broken:
        (folder / "broken.toml").write_text('drug = "aspirin"\nregimen = "100 mg daily"\n')
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    folder = _batch(root)
    seen = []
    res = build_report([str(folder)], root / "out", against="transplant",
                       command="pkdose report batch --out out",
                       progress=lambda i, n, p: seen.append((i, n, p)))
    return root, folder, res, seen


def test_every_good_regimen_is_in_csv_json_and_html(built):
    root, folder, res, seen = built
    out = root / "out"
    csv = pd.read_csv(out / "metrics.csv")
    assert tuple(csv.columns) == COLUMNS
    assert sorted(set(csv["regimen_id"])) == GOOD_IDS
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["notice"] == NOTICE and payload["command"].startswith("pkdose report")
    assert sorted({r["regimen_id"] for r in payload["rows"]}) == GOOD_IDS
    assert all(tuple(r) == COLUMNS for r in payload["rows"])
    page = (out / "report.html").read_text()
    for rid in GOOD_IDS:
        assert f'id="{rid}"' in page
    # Long format: one row per regimen and metric, units from the metric registry.
    cmax = csv[csv["metric"] == "cmax_ng_ml"]
    assert len(cmax) == 4 and set(cmax["unit"]) == {"ng/mL"}
    assert set(csv.loc[csv["metric"] == "mtorc2_verdict", "value"]) <= {
        "spared", "equivocal", "inhibited"}
    assert "nearest_reference" in set(csv["metric"])
    assert [i for i, _, _ in seen] == [1, 2, 3, 4] and seen[0][1] == 4
    assert (out / "figures" / "overlay.png").is_file()
    assert all((out / "figures" / f"{rid}.png").is_file() for rid in GOOD_IDS)


def test_the_broken_file_is_listed_at_the_top_and_in_failed(built):
    root, folder, res, _ = built
    assert [Path(p).name for p, _ in res.failed] == ["broken.toml"]
    assert "aspirin" in res.failed[0][1] and "\n" not in res.failed[0][1]
    assert "broken.toml" not in " ".join(res.ok)
    page = (root / "out" / "report.html").read_text()
    failed_at = page.index('id="failed"')
    assert failed_at < page.index('id="summary"')
    assert "broken.toml" in page[failed_at:page.index('id="summary"')]
    assert page.index(NOTICE) < failed_at and page.rstrip().endswith("</html>")
    assert json.loads((root / "out" / "metrics.json").read_text())["failed"][0]["path"] \
        .endswith("broken.toml")


def test_report_html_is_self_contained(built):
    page = (built[0] / "out" / "report.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "url(" not in page  # no CSS fetches either
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == 1 + len(GOOD_IDS)  # overlay + one per regimen
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True)[:8] == PNG_MAGIC


def test_building_twice_gives_identical_output(built, tmp_path):
    root, folder, _, _ = built
    build_report([str(folder)], tmp_path / "again", against="transplant",
                 command="pkdose report batch --out out")
    first, again = root / "out", tmp_path / "again"
    for name in ("metrics.csv", "metrics.json"):
        assert (first / name).read_bytes() == (again / name).read_bytes()

    def stable(p: Path) -> list[str]:
        return [ln for ln in p.read_text().splitlines() if GENERATED_PREFIX not in ln]

    assert stable(first / "report.html") == stable(again / "report.html")
    assert stable(first / "report.md") == stable(again / "report.md")
    for png in (first / "figures").iterdir():
        assert png.read_bytes() == (again / "figures" / png.name).read_bytes()


def test_cli_exit_code_is_1_with_a_broken_file_and_0_without(tmp_path):
    runner = CliRunner()
    _batch(tmp_path / "bad")
    res = runner.invoke(main, ["report", str(tmp_path / "bad" / "batch" / "broken.toml"),
                               str(tmp_path / "bad" / "batch" / "a-weekly.toml"),
                               "--out", str(tmp_path / "o1"), "--format", "csv"])
    assert res.exit_code == 1
    assert NOTICE in res.stderr and "[1/2]" in res.stderr and "[2/2]" in res.stderr
    assert re.search(r"broken\.toml: .*aspirin", res.stderr)
    good = _batch(tmp_path / "good", broken=False) / "a-weekly.toml"
    res = runner.invoke(main, ["report", str(good), "--out", str(tmp_path / "o2"),
                               "--format", "csv,json"])
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "o2" / "metrics.json").is_file()
    assert not (tmp_path / "o2" / "report.html").exists()


def test_cli_exit_code_is_2_when_nothing_is_readable_or_usage_is_bad(tmp_path):
    runner = CliRunner()
    broken = tmp_path / "broken.toml"
    broken.write_text('drug = "aspirin"\n')
    res = runner.invoke(main, ["report", str(broken), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no readable regimen" in res.stderr
    assert not (tmp_path / "o").exists()
    good = _batch(tmp_path, broken=False) / "a-weekly.toml"
    res = runner.invoke(main, ["report", str(good), "--out", str(tmp_path / "o"),
                               "--against", "nonsense"])
    assert res.exit_code == 2 and "unknown reference group" in res.stderr
    res = runner.invoke(main, ["report", str(good), "--out", str(tmp_path / "o"),
                               "--format", "pdf"])
    assert res.exit_code == 2 and "unknown report format" in res.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = runner.invoke(main, ["report", str(good), "--out", str(blocker / "sub")])
    assert res.exit_code == 2 and "cannot create" in res.stderr


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(built, tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("Chromium not installed: no /usr/bin/chromium, chromium or "
                    "chromium-browser on PATH (.ci/run installs Debian's chromium)")
    page = built[0] / "out" / "report.html"
    flags = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert '<table id="summary">' in dom and dom.count("<tr>") >= 1 + len(GOOD_IDS)
    assert dom.count('src="data:image/png;base64,') == 1 + len(GOOD_IDS)
    assert "Files not reported" in dom and NOTICE in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()],
                   capture_output=True, timeout=30, check=True)
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000


def test_every_arm_of_a_reference_file_is_reported_with_its_co_medication(tmp_path):
    from pkdose.references import regimens_dir

    res = build_report([str(regimens_dir() / "cohen2012.toml")], tmp_path, formats=["csv"])
    assert not res.failed
    df = pd.read_csv(tmp_path / "metrics.csv")
    ids = sorted(df["regimen_id"].unique())
    assert ids == ["cohen2012-sirolimus-alone", "cohen2012-with-grapefruit-juice",
                   "cohen2012-with-ketoconazole"]
    cavg = df[df["metric"] == "cavg_ng_ml"].set_index("regimen_id")["value"].astype(float)
    # 16 mg weekly with ketoconazole gives more than 90 mg weekly alone (Cohen 2012 design).
    assert cavg["cohen2012-with-ketoconazole"] > cavg["cohen2012-sirolimus-alone"]


@pytest.mark.slow
def test_the_shipped_library_reports_whole_with_exit_0(tmp_path):
    from pkdose import references
    from pkdose.references import regimens_dir

    res = CliRunner().invoke(main, ["report", str(regimens_dir()), "--out", str(tmp_path),
                                    "--format", "csv"])
    assert res.exit_code == 0, res.stderr
    df = pd.read_csv(tmp_path / "metrics.csv")
    assert df["regimen_id"].nunique() == len(references.load())  # every file and arm


def test_undefined_values_read_n_a_in_the_pages(tmp_path):
    """A regimen that stops has no swing (its trough is 0) and no steady state: the pages
    say n/a, never inf or nan (the CSV keeps 'inf' as a value)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "once.toml").write_text('drug = "sirolimus"\nregimen = "5 mg once"\n')
    build_report([str(folder)], tmp_path / "out", command="pkdose report in --out out")
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert "n/a" in cells
    assert not {c.strip().lower() for c in cells} & {"inf", "-inf", "nan", "none"}
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert not re.search(r"\|\s*(inf|nan|None)\s*\|", md)


def test_virtual_subjects_vary_human_regimens_and_leave_animals_typical(tmp_path):
    """--population on a batch with animal files: the animals were all 'not reported'
    (virtual populations are human); an unknown population failed every file in turn."""
    from pkdose.errors import PkdoseError
    from pkdose.references import regimens_dir
    from pkdose.report import Variation

    human = _batch(tmp_path, broken=False) / "a-weekly.toml"
    files = [str(human), str(regimens_dir() / "fok2014.toml")]
    res = build_report(files, tmp_path / "out", formats=["csv", "json"], file_timeout_s=None,
                       variation=Variation("older-adults", 20))
    assert not res.failed
    df = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert "cavg_ng_ml_pop_p5" in set(df.loc[df["regimen_id"] == "a-weekly", "metric"])
    assert "cavg_ng_ml_pop_p5" not in set(df.loc[df["regimen_id"] == "fok2014", "metric"])
    said = json.loads((tmp_path / "out" / "metrics.json").read_text())["warnings"]
    assert any(w["regimen_id"] == "fok2014" and "typical animal" in w["message"] for w in said)
    seen = []
    with pytest.raises(PkdoseError, match="unknown population 'nobody'"):
        build_report(files, tmp_path / "bad", progress=lambda *a: seen.append(a),
                     variation=Variation("nobody", 20))
    assert not seen and not (tmp_path / "bad").exists()


def test_a_report_written_into_its_input_folder_does_not_read_itself_next_time(tmp_path):
    """The second run took the first run's metrics.csv for an event table: exit 1."""
    folder = _batch(tmp_path, broken=False)
    (folder / "events.csv").unlink()
    for _ in range(2):
        res = build_report([str(folder)], folder, formats=["csv"], file_timeout_s=None)
        assert not res.failed and [Path(p).name for p in res.ok] == ["a-weekly.toml",
                                                                     "b-everolimus.toml"]
