"""The docs are runnable: every pkdose command in the user guide and README succeeds."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pkdose.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _commands(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    cmds = []
    for block in blocks:
        for line in block.splitlines():
            line = line.strip()
            line = line.split("&&")[-1].strip()  # "pip install . && pkdose ..." -> pkdose ...
            if line.startswith("pkdose "):
                cmds.append(line)
    return cmds


GUIDE = _commands(ROOT / "docs" / "user-guide.md")
README = _commands(ROOT / "README.md")


@pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
@pytest.mark.parametrize("command", GUIDE + README)
def test_documented_command_runs(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the examples write land in a scratch folder
    res = CliRunner().invoke(main, shlex.split(command)[1:], catch_exceptions=False)
    assert res.exit_code == 0, res.stderr


def test_the_guide_has_examples_to_run():
    assert len(GUIDE) >= 6 and README


def test_user_guide_numbers_are_what_pkdose_prints():
    from pkdose.comparison import compare

    df = compare(["rapamycin 1 mg daily", "rapamycin 6 mg weekly", "everolimus 5 mg weekly"]).frame
    auc = df["auc168_ng_h_ml"].tolist()
    assert auc[0] == pytest.approx(560, rel=0.01) and auc[1] == pytest.approx(480, rel=0.01)
    assert df["cmax_ng_ml"][1] / df["cmax_ng_ml"][0] == pytest.approx(3.5, rel=0.05)
    assert df["ctrough_ng_ml"][1] == pytest.approx(0.56, rel=0.05)
    assert df["t_below_1_longest_h"].tolist() == pytest.approx([0, 43, 108], abs=1)


_TIMECOURSES = ROOT.parent / "shared" / "data" / "sirolimus_timecourses_training.json"


@pytest.mark.skipif(not _TIMECOURSES.exists(), reason="training time courses absent")
def test_timecourse_validation_doc_is_up_to_date():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "score_timecourses", ROOT / "scripts" / "score_timecourses.py")
    gen = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen  # dataclasses look their module up while it executes
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0, "run: python scripts/score_timecourses.py"
    text = (ROOT / "docs" / "validation-timecourses.md").read_text(encoding="utf-8")
    # Every shipped sirolimus model is scored, and fitted models are flagged in-sample.
    for name in ("wu2012", "golubovic2019", "pkdose2026"):
        assert f"| {name} as shipped |" in text
    assert "| pkdose2026 as shipped | **in-sample** |" in text
    assert "leave-one-cohort-out" in text and "CC BY-SA 4.0" in text


def test_everolimus_default_rule_doc_is_up_to_date():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "score_everolimus", ROOT / "scripts" / "score_everolimus.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0, "run: python scripts/score_everolimus.py"
