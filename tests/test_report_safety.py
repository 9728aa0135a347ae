"""Batches that never lose work: each file isolated and under a time budget, outputs moved
into place as a whole, no symbolic link followed in --out, no name collisions, escaped
markdown and HTML.

Most tests drive :class:`pkdose.files.OutputFolder` and :class:`pkdose.worker.Worker`
directly (milliseconds); a few build real one-regimen reports (about 2 s each); the mixed
hostile batch through the command line is ``slow``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pkdose import report as report_mod
from pkdose import worker
from pkdose.cli import main
from pkdose.errors import PkdoseError
from pkdose.files import OutputFolder, printable
from pkdose.report import FILE_TIMEOUT_S, MANIFEST, build_report, md_text

ROOT = Path(__file__).resolve().parents[1]
posix_only = pytest.mark.skipif(not worker.available(), reason="POSIX pipes and processes")
WEEKLY = 'drug = "sirolimus"\nregimen = "6 mg weekly"\n'
DAILY = 'drug = "everolimus"\nregimen = "everolimus 5 mg daily"\n'


def regimen(folder: Path, name: str, text: str = WEEKLY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def slow_event_table(folder: Path) -> Path:
    """A valid event table that takes minutes: 1000 subjects of 2000 doses each (about
    0.8 s per subject), far beyond a few seconds of budget."""
    rows = ["ID,TIME,AMT,II,ADDL,DRUG"]
    rows += [f"{i},{i % 24},{1 + i % 5},{24 + i % 7},2000,sirolimus" for i in range(1, 1001)]
    path = folder / "slow.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (links as their target text), for before/after checks."""
    out = {}
    for p in sorted(folder.rglob("*")):
        key = str(p.relative_to(folder))
        if p.is_symlink():
            out[key] = b"-> " + os.readlink(p).encode()
        elif p.is_file():
            out[key] = p.read_bytes()
    return out


def leftovers(*folders: Path) -> list[str]:
    """Staging folders a run left behind."""
    return [p.name for f in folders if f.is_dir() for p in f.iterdir()
            if p.name.endswith(".partial")]


@pytest.fixture
def quick_figures(monkeypatch):
    """A tiny figure in place of the real curves, for tests about names and files, not
    pictures (a real figure takes about a second to draw)."""
    import matplotlib.pyplot as plt

    from pkdose import plotting

    def figure(curves, **kwargs):
        fig = plt.figure(figsize=(1, 1), dpi=10)
        fig.text(0, 0, "|".join(label for label, _ in curves))
        return fig

    monkeypatch.setattr(plotting, "curves_figure", figure)


def build(paths, out, **kwargs):
    """A report in this process (no worker), markdown and CSV only: the fast way."""
    kwargs.setdefault("formats", ["md", "csv"])
    kwargs.setdefault("file_timeout_s", None)
    return build_report([str(p) for p in paths], out, **kwargs)


# ---------------------------------------------------------------------------------------
# 1. each file isolated, under a time budget
# ---------------------------------------------------------------------------------------


@posix_only
def test_a_call_over_its_budget_is_killed_and_the_worker_replaced():
    with worker.Worker() as w:
        assert w.call(math.sqrt, (16.0,), 30) == 4.0
        start = time.monotonic()
        with pytest.raises(worker.CallFailed) as err:
            w.call(time.sleep, (600,), 0.5)
        assert err.value.kind == "timeout" and time.monotonic() - start < 10
        with pytest.raises(worker.CallFailed) as err:
            w.call(math.sqrt, (-1.0,), 30)
        assert err.value.kind == "raised" and "ValueError: math domain error" in err.value.detail
        with pytest.raises(worker.CallFailed) as err:
            w.call(os._exit, (7,), 30)
        assert err.value.kind == "stopped" and "exit status 7" in err.value.detail
        assert w.call(math.sqrt, (9.0,), 30) == 3.0  # a new child took over


@posix_only
def test_ctrl_c_in_the_middle_of_a_call_kills_the_child():
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt), worker.Worker() as w:
            w.call(math.sqrt, (1.0,), 30)
            pid = w._proc.pid
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            start = time.monotonic()
            w.call(time.sleep, (600,), 600)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.monotonic() - start < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_regimen_whose_figure_fails_is_listed_and_the_rest_reported(tmp_path,
                                                                       monkeypatch):
    from pkdose import plotting

    real = plotting.curves_figure

    def figure(curves, **kwargs):
        if kwargs.get("title") == "b":
            raise ValueError("cannot draw")
        return real(curves, **kwargs)

    monkeypatch.setattr(plotting, "curves_figure", figure)
    folder = tmp_path / "in"
    res = build([regimen(folder, "a.toml"), regimen(folder, "b.toml", DAILY)],
                tmp_path / "out")
    assert res.ok == [str(folder / "a.toml")]
    assert res.failed == [(f"{folder / 'b.toml'} (b)",
                           "internal error (ValueError: cannot draw); this is a bug in pkdose: "
                           "please report the file that caused it")]
    assert sorted(p.name for p in (tmp_path / "out" / "figures").iterdir()) == [
        "a.png", "overlay.png"]
    assert set(pd.read_csv(tmp_path / "out" / "metrics.csv")["regimen_id"]) == {"a"}


def test_any_exception_from_one_file_is_kept_to_that_file(tmp_path, monkeypatch, quick_figures):
    good = regimen(tmp_path / "in", "good.toml")
    odd = regimen(tmp_path / "in", "odd.toml")
    real = report_mod.load_file

    def load(path):
        if path.endswith("odd.toml"):
            raise TypeError("'int' object is not iterable")
        return real(path)

    monkeypatch.setattr(report_mod, "load_file", load)
    res = build([good, odd], tmp_path / "out")
    assert res.ok == [str(good)]
    [(path, reason)] = res.failed
    assert path == str(odd) and "internal error (TypeError" in reason and "\n" not in reason


def test_one_failing_arm_keeps_the_other_arms_of_the_file(tmp_path, monkeypatch):
    from pkdose.references import regimens_dir

    real = report_mod._simulate_entry

    def simulate(regimen_id, source, unit, variation=None):
        if "ketoconazole" in regimen_id:
            raise ZeroDivisionError("float division by zero")
        return real(regimen_id, source, unit, variation)

    monkeypatch.setattr(report_mod, "_simulate_entry", simulate)
    rep = report_mod.report_file(str(regimens_dir() / "cohen2012.toml"))
    assert [e.regimen_id for e in rep.entries] == ["cohen2012-sirolimus-alone",
                                                   "cohen2012-with-grapefruit-juice"]
    [(where, reason)] = rep.failed
    assert where.endswith("(cohen2012-with-ketoconazole)") and "ZeroDivisionError" in reason


@pytest.mark.parametrize(("text", "match"), [
    (WEEKLY + "[[reference]]\ntitle = 'x'\n", ""),
    (WEEKLY + "[reference]\ncomedication = 5\n", ""),
    ('drug = "sirolimus"\nstart_h = -1e308\nregimen = "1 mg daily"\n', "start time"),
    ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nesting"),
])
def test_hostile_regimen_files_are_one_line_reasons(tmp_path, text, match):
    path = regimen(tmp_path, "r.toml", text)
    rep = report_mod.report_file(str(path))
    [(where, reason)] = rep.failed
    assert not rep.entries and where == str(path) and match in reason
    assert "\n" not in reason and "internal error" not in reason


@posix_only
def test_a_file_over_the_time_budget_is_listed_and_the_others_reported(tmp_path, quick_figures):
    folder = tmp_path / "in"
    regimen(folder, "a.toml")
    slow_event_table(folder)
    start = time.monotonic()
    res = build([folder], tmp_path / "out", file_timeout_s=3.0)
    assert time.monotonic() - start < 60  # unbounded, the slow file alone takes minutes
    assert res.ok == [str(folder / "a.toml")]
    [(path, reason)] = res.failed
    assert path.endswith("slow.csv") and reason.startswith("took longer than 3 s")
    csv = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert set(csv["regimen_id"]) == {"a"}


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan, "10"])
def test_the_time_budget_must_be_a_positive_number(tmp_path, bad):
    with pytest.raises(PkdoseError, match="time budget per file") as err:
        build_report([str(regimen(tmp_path, "a.toml"))], tmp_path / "o", file_timeout_s=bad)
    assert err.value.options == ("file_timeout_s",)


@pytest.mark.parametrize("bad", ["0", "-5", "nan", "inf"])
def test_a_bad_budget_on_the_command_line_is_one_line_naming_the_option(tmp_path, bad):
    res = CliRunner().invoke(main, ["report", str(regimen(tmp_path, "a.toml")), "--out",
                                    str(tmp_path / "o"), "--file-timeout", bad])
    assert res.exit_code == 2 and res.stderr.count("pkdose: error:") == 1
    assert "time budget per file" in res.stderr and "(option --file-timeout)" in res.stderr
    assert not (tmp_path / "o").exists()


def test_the_command_line_default_budget_is_the_library_default():
    opt = next(p for p in main.commands["report"].params if p.name == "file_timeout_s")
    assert opt.default == FILE_TIMEOUT_S


# ---------------------------------------------------------------------------------------
# 2. atomic output; stale outputs removed, other files kept
# ---------------------------------------------------------------------------------------


def staged(target: Path, files: dict[str, str], last=("page.html",)) -> list[Path]:
    with OutputFolder(target, ".m.json", "test", last=last) as out:
        for rel, text in files.items():
            out.write_text(rel, text)
        return out.commit()


def test_a_new_folder_appears_whole_by_one_rename(tmp_path, monkeypatch):
    renames = []
    real = os.rename
    monkeypatch.setattr(os, "rename", lambda *a, **k: renames.append(a) or real(*a, **k))
    target = tmp_path / "new" / "out"
    written = staged(target, {"page.html": "<p>1</p>", "fig/a.png": "a"})
    assert len(renames) == 1 and renames[0][1] == target
    assert written == [target / "page.html", target / "fig" / "a.png"]
    assert json.loads((target / ".m.json").read_text())["files"] == ["fig/a.png", "page.html"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o777 & ~os.umask(os.umask(0o022)))
    assert leftovers(target.parent) == []


def test_a_second_run_removes_its_stale_files_and_keeps_the_users(tmp_path):
    target = tmp_path / "out"
    staged(target, {"page.html": "1", "data.csv": "1", "fig/a.png": "a", "fig/b.png": "b"})
    (target / "notes.txt").write_text("mine")
    (target / "fig" / "mine.png").write_text("mine")
    staged(target, {"page.html": "2", "fig/a.png": "a2"})
    assert snapshot(target) == {"page.html": b"2", "fig/a.png": b"a2", ".m.json": (
        target / ".m.json").read_bytes(), "notes.txt": b"mine", "fig/mine.png": b"mine"}
    assert json.loads((target / ".m.json").read_text())["files"] == ["fig/a.png", "page.html"]
    assert leftovers(target, tmp_path) == []


def test_a_file_the_writer_did_not_write_is_never_replaced(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "page.html").write_text("the user's own page")
    before = snapshot(target)
    with pytest.raises(PkdoseError, match="already holds page.html, which test did not"):
        OutputFolder(target, ".m.json", "test").check(["page.html"])
    with pytest.raises(PkdoseError, match="already holds page.html"):
        staged(target, {"page.html": "new"})
    assert snapshot(target) == before and leftovers(target, tmp_path) == []


def test_an_error_or_ctrl_c_before_the_move_leaves_the_old_folder(tmp_path):
    target = tmp_path / "out"
    staged(target, {"page.html": "old", "fig/a.png": "a"})
    before = snapshot(target)
    for exc in (KeyboardInterrupt(), PkdoseError("x")):
        with pytest.raises(type(exc)), OutputFolder(target, ".m.json", "test") as out:
            out.write_text("page.html", "half")
            out.write_text("fig/b.png", "b")
            raise exc
        assert snapshot(target) == before and leftovers(target, tmp_path) == []


def test_a_full_disk_is_one_line_and_leaves_the_old_folder(tmp_path, monkeypatch):
    target = tmp_path / "out"
    staged(target, {"page.html": "old"})
    before = snapshot(target)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # the data is on disk (or not) by its fsync
    with pytest.raises(PkdoseError, match="cannot write .*page.html: No space left on device"):
        staged(target, {"page.html": "new"})
    assert snapshot(target) == before and leftovers(target, tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE")
def test_a_real_write_limit_mid_report_leaves_the_old_report(tmp_path):
    import resource

    good = regimen(tmp_path / "in", "a.toml")
    out = tmp_path / "out"
    build([good], out, formats=["html", "csv"])
    before = snapshot(out)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # The PNGs and report.html are larger than this: a write fails part way (EFBIG;
    # Python ignores SIGXFSZ), as on a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, hard))
    try:
        with pytest.raises(PkdoseError, match="cannot write .*left as it was"):
            build([good], out, formats=["html", "csv"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert snapshot(out) == before and leftovers(out, tmp_path) == []


def test_ctrl_c_while_files_move_is_held_until_they_are_all_in_place(tmp_path, monkeypatch):
    target = tmp_path / "out"
    staged(target, {"page.html": "old", "fig/a.png": "a"})
    real = os.rename

    def rename(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        staged(target, {"page.html": "new", "fig/b.png": "b"})
    monkeypatch.undo()
    assert (target / "page.html").read_text() == "new"
    assert sorted(p.name for p in (target / "fig").iterdir()) == ["b.png"]
    assert leftovers(target, tmp_path) == []


def test_a_move_stopped_half_way_leaves_no_page_and_the_next_run_tidies_up(tmp_path,
                                                                           monkeypatch):
    target = tmp_path / "out"
    staged(target, {"page.html": "old", "fig/a.png": "a"})
    real, calls = os.rename, []

    def rename(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:  # the manifest, fig/b.png, then stop (a power cut)
            raise OSError(errno.EIO, "Input/output error")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(PkdoseError, match="cannot move the new outputs"):
        staged(target, {"page.html": "new", "fig/b.png": "b", "fig/c.png": "c"})
    monkeypatch.undo()
    # No page: neither the old one beside new figures nor a half-written new one.
    assert not (target / "page.html").exists()
    assert json.loads((target / ".m.json").read_text())["files"] == [
        "fig/a.png", "fig/b.png", "fig/c.png", "page.html"]
    staged(target, {"page.html": "newer", "fig/c.png": "c"})
    assert sorted(snapshot(target)) == [".m.json", "fig/c.png", "page.html"]


def test_a_report_with_fewer_formats_removes_the_old_pages(tmp_path, quick_figures):
    good = regimen(tmp_path / "in", "a.toml")
    out = tmp_path / "out"
    build([good, regimen(tmp_path / "in", "b.toml", DAILY)], out, formats=["md", "csv"])
    assert (out / "figures" / "b.png").is_file()
    (out / "README.txt").write_text("kept")
    res = build([good], out, formats=["csv"])
    assert sorted(snapshot(out)) == [MANIFEST, "README.txt", "figures/a.png",
                                     "figures/overlay.png", "metrics.csv"]
    assert res.files == [out.absolute() / "metrics.csv", out.absolute() / "figures/overlay.png",
                         out.absolute() / "figures/a.png"]


def test_a_legacy_or_foreign_report_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.csv").write_text("someone else's numbers")
    monkeypatch.setattr(report_mod, "_report_files", lambda *a: pytest.fail("simulated"))
    with pytest.raises(PkdoseError, match="already holds metrics.csv"):
        build([regimen(tmp_path / "in", "a.toml")], out)
    assert (out / "metrics.csv").read_text() == "someone else's numbers"


# ---------------------------------------------------------------------------------------
# 3. never follow symbolic links in --out
# ---------------------------------------------------------------------------------------


@pytest.fixture
def victim(tmp_path):
    """A folder and a file outside the output folder that must stay as they are."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "precious.txt").write_text("precious")
    return folder


def test_an_output_folder_that_is_a_link_is_refused(tmp_path, victim):
    link = tmp_path / "out"
    link.symlink_to(victim)
    for run in (lambda: OutputFolder(link, ".m.json", "test").check(["page.html"]),
                lambda: staged(link, {"page.html": "x"})):
        with pytest.raises(PkdoseError, match="is a symbolic link"):
            run()
    assert snapshot(victim) == {"precious.txt": b"precious"}
    res = CliRunner().invoke(main, ["report", str(regimen(tmp_path / "in", "a.toml")),
                                    "--out", str(link)])
    assert res.exit_code == 2 and res.stderr.count("pkdose: error:") == 1
    assert "symbolic link" in res.stderr and snapshot(victim) == {"precious.txt": b"precious"}


def test_links_planted_inside_are_refused_or_replaced_never_followed(tmp_path, victim):
    target = tmp_path / "out"
    precious = victim / "precious.txt"
    target.mkdir()
    (target / "page.html").symlink_to(precious)  # not written by us: refused
    with pytest.raises(PkdoseError, match="already holds page.html"):
        staged(target, {"page.html": "x"})
    (target / "page.html").unlink()
    staged(target, {"page.html": "1", "fig/a.png": "a"})
    # After a run, its own outputs swapped for links: the links are replaced.
    for rel in ("page.html", "fig/a.png"):
        (target / rel).unlink()
        (target / rel).symlink_to(precious)
    staged(target, {"page.html": "2", "fig/a.png": "a2"})
    assert not (target / "page.html").is_symlink() and (target / "page.html").read_text() == "2"
    assert not (target / "fig/a.png").is_symlink()
    # A subfolder or the manifest swapped for a link: refused.
    (target / "fig" / "a.png").unlink()
    (target / "fig").rmdir()
    (target / "fig").symlink_to(victim)
    with pytest.raises(PkdoseError, match="fig is a symbolic link"):
        staged(target, {"fig/precious.txt": "x"})
    (target / "fig").unlink()
    (target / ".m.json").unlink()
    (target / ".m.json").symlink_to(precious)
    with pytest.raises(PkdoseError, match=r"\.m\.json is a symbolic link"):
        staged(target, {"page.html": "3"})
    assert snapshot(victim) == {"precious.txt": b"precious"}


@pytest.mark.parametrize("files", [["../victim/precious.txt"], ["/etc/passwd"], "x", [1],
                                   ["a/b/c"]])
def test_a_forged_manifest_is_refused(tmp_path, victim, files):
    target = tmp_path / "out"
    target.mkdir()
    (target / ".m.json").write_text(json.dumps({"files": files}))
    with pytest.raises(PkdoseError, match="is not a list of files test wrote"):
        staged(target, {"page.html": "x"})
    assert snapshot(victim) == {"precious.txt": b"precious"}


# ---------------------------------------------------------------------------------------
# 4. names cannot collide; 5. escaping
# ---------------------------------------------------------------------------------------


def test_regimen_names_never_overwrite_fixed_figures_or_each_other(tmp_path, quick_figures):
    first, second = tmp_path / "one", tmp_path / "two"
    paths = [regimen(first, "overlay.toml"), regimen(first, "same.toml"),
             regimen(second, "same.toml", DAILY), regimen(first, "x" * 240 + ".toml")]
    out = tmp_path / "out"
    build(paths, out)
    ids = list(dict.fromkeys(pd.read_csv(out / "metrics.csv")["regimen_id"]))
    assert ids == ["overlay-2", "same", "same-2", "x" * report_mod.MAX_ID_CHARS]
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == sorted(["overlay.png", *[f"{i}.png" for i in ids]])
    drugs = pd.read_csv(out / "metrics.csv").groupby("regimen_id")["drug"].first()
    assert drugs["same"] == "sirolimus" and drugs["same-2"] == "everolimus"


def test_markdown_escaping_leaves_no_markup():
    hostile = "a|b [x](javascript:alert(1)) <script>alert(1)</script> `c` *d* _e_ ![i](j)\n# h"
    text = md_text(hostile)
    assert "\n" not in text and "<" not in text and ">" not in text
    assert "&lt;script&gt;" in text
    assert all(text[i - 1] == "\\" for i, c in enumerate(text) if c in "|[]`*_#")
    assert md_text("12.5 - 3") == "12.5 - 3"
    assert [md_text(t, leading=True) for t in ("- a", "+a", "12. a", "3) a", "12a")] == [
        "\\- a", "\\+a", "12\\. a", "3\\) a", "12a"]  # no list item can start
    assert printable("ok \x1b[31m\u202e\udcff\n") == "ok \\x1b[31m\\u202e\\xff\\n"


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS names must be UTF-8")
def test_hostile_file_names_are_escaped_in_every_output(tmp_path, quick_figures):
    folder = tmp_path / "in"
    name = "evil `x` <script>alert(1)<\\script> |[a](javascript:alert(1))\n# H.toml"
    good = regimen(folder, name)
    bad = regimen(folder, "bad <img src=x onerror=alert(1)>.toml", 'drug = "aspirin"\n')
    fifo = folder / "fifo\x1b]0;pwned\x07.toml"  # a terminal title escape
    os.mkfifo(fifo)  # its reason quotes the name
    raw = os.fsencode(str(folder)) + b"/\xff\x1b[2J.toml"
    with open(raw, "w") as fh:
        fh.write(WEEKLY)
    out = tmp_path / "out"
    res = build([folder], out, formats=["md", "html", "csv", "json"])
    assert len(res.ok) == 2 and len(res.failed) == 2
    assert not any(c in text for c in "\x1b\x07\n" for failure in res.failed for text in failure)
    page, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    for text in (page, md):
        assert "<script" not in text and "<img src=x" not in text
        assert "\x1b" not in text and "x1b" in text  # escaped, shown
    assert "<img alt=" in page  # the report's own images, nothing else
    assert not re.search(r"(?<!\\)\]\(javascript", md) and "\n# H" not in md
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len({ln.replace("\\|", "").count("|") for ln in rows}) == 1  # no extra cells
    failed = json.loads((out / "metrics.json").read_text())["failed"]
    assert [f["path"] for f in failed] == [str(bad), printable(str(fifo))]
    assert printable(str(good)) in set(pd.read_csv(out / "metrics.csv")["source_file"])


# ---------------------------------------------------------------------------------------
# 6. the whole batch from the command line
# ---------------------------------------------------------------------------------------


def hostile_folder(folder: Path) -> tuple[list[str], list[str]]:
    """Good, bad, hanging and hostile files; returns (good regimen ids, bad file names)."""
    regimen(folder, "a-weekly.toml")
    regimen(folder, "b-everolimus.toml", DAILY)
    regimen(folder, "overlay.toml")
    (folder / "events.csv").write_text(
        "ID,TIME,AMT,II,ADDL,DRUG\n1,0,2,24,-1,sirolimus\n2,0,5,168,-1,everolimus\n")
    regimen(folder, "ref-array.toml", WEEKLY + "[[reference]]\ntitle = 'x'\n")
    regimen(folder, "comed-int.toml", WEEKLY + "[reference]\ncomedication = 5\n")
    regimen(folder, "aspirin.toml", 'drug = "aspirin"\nregimen = "100 mg daily"\n')
    regimen(folder, "far-start.toml", 'drug = "sirolimus"\nstart_h = -1e308\n'
                                      'regimen = "1 mg daily"\n')
    (folder / "latin1.toml").write_bytes(b'drug = "sirolimus" # \xe9\n')
    (folder / "zero.toml").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo.toml")
    slow_event_table(folder)
    good = ["a-weekly", "b-everolimus", "events-1", "events-2", "overlay-2"]
    bad = ["aspirin.toml", "comed-int.toml", "far-start.toml", "fifo.toml", "latin1.toml",
           "ref-array.toml", "slow.csv", "zero.toml"]
    return good, bad


@posix_only
@pytest.mark.slow
def test_a_mixed_hostile_batch_reports_every_good_file_lists_every_bad_and_exits_1(tmp_path):
    folder = tmp_path / "batch"
    good, bad = hostile_folder(folder)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    start = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "pkdose", "report", str(folder), "--out", str(out),
         "--file-timeout", "5"], capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    took = time.monotonic() - start
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    listed = [ln.strip().split(":")[0] for ln in res.stderr.splitlines()
              if ln.startswith("  ") and ":" in ln]
    assert sorted(Path(p).name for p in listed) == bad
    assert "took longer than 5 s" in res.stderr and "--file-timeout SECONDS" in res.stderr
    csv = pd.read_csv(out / "metrics.csv")
    assert sorted(csv["regimen_id"].unique()) == good
    payload = json.loads((out / "metrics.json").read_text())
    assert sorted(Path(f["path"]).name for f in payload["failed"]) == bad
    page = (out / "report.html").read_text()
    assert all(f'id="{rid}"' in page for rid in good) and page.rstrip().endswith("</html>")
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        ["overlay.png", *[f"{rid}.png" for rid in good]])
    assert (out / "mine.txt").read_text() == "kept" and leftovers(out, tmp_path) == []
    print(f"mixed batch of {len(good) + len(bad)} inputs: {took:.1f} s")


@posix_only
@pytest.mark.slow
@pytest.mark.parametrize(("sig", "status", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                     (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_kill_mid_batch_exits_and_leaves_the_old_report(tmp_path, sig, status, word):
    folder = tmp_path / "batch"
    regimen(folder, "a.toml")
    slow_event_table(folder)
    out = tmp_path / "out"
    build([folder / "a.toml"], out)
    before = snapshot(out)
    proc = subprocess.Popen([sys.executable, "-m", "pkdose", "report", str(folder), "--out",
                             str(out)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in proc.stderr:
        if line.startswith("[2/2]"):
            break
    time.sleep(1.0)  # the worker is deep in the slow file
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                              text=True).stdout.split()
    proc.send_signal(sig)
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == status and word in rest
    assert "Traceback" not in rest
    assert snapshot(out) == before and leftovers(out, tmp_path) == []
    for pid in children:  # the worker went with it
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def test_one_bad_subject_of_an_event_table_keeps_the_other_subjects(tmp_path):
    table = tmp_path / "ev.csv"
    table.write_text("ID,TIME,AMT,DRUG\n1,0,2,sirolimus\n1,24,2,sirolimus\n"
                     "2,0,-5,sirolimus\n3,0,5,everolimus\n")
    res = CliRunner().invoke(main, ["report", str(table), "--out", str(tmp_path / "out"),
                                    "--format", "csv"])
    assert res.exit_code == 1, res.output
    assert "ev-2): row 3: dose amount must be positive" in res.stderr
    csv = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert sorted(csv["regimen_id"].unique()) == ["ev-1", "ev-3"]
    # The table as a whole is still refused where one answer is asked for.
    from pkdose.regimen_io import events_to_regimens, read_events_csv

    with pytest.raises(PkdoseError, match="row 3: dose amount must be positive"):
        events_to_regimens(read_events_csv(table), source=str(table))
