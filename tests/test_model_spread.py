"""The model range: every shipped model valid for a regimen, beside the default model's numbers.

The range must be exactly the lowest and highest value over the per-model results (each
model run on its own through ``compare(..., model=name)``), the verdict must say when the
models disagree, and text, CSV and JSON must show the same numbers.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pkdose.children import is_paediatric
from pkdose.cli import main
from pkdose.comparison import alternative_scenarios, compare, flag
from pkdose.engine import QUANTITIES, quantity, scenario
from pkdose.errors import ExtrapolationWarning
from pkdose.model import builtin_models
from pkdose.results import HIGH, LOW, RANGE_LEGEND, TEXT_METRICS, format_value

pytestmark = pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")

#: Numeric headline columns (the verdict is a label, not ranged).
NUMERIC = [quantity(m).column for m in TEXT_METRICS if quantity(m).unit != "label"]
REGIMENS = ["sirolimus 6 mg weekly", "everolimus 5 mg weekly", "everolimus 20 mg weekly"]


def _shipped(drug: str, species: str = "human") -> list[str]:
    # The paediatric model refuses these adults, so it is not valid for them.
    return [m.name for m in builtin_models(species).values()
            if m.drug == drug and not is_paediatric(m)]


def test_the_range_is_the_min_and_max_over_each_model_run_alone():
    subjects = pd.DataFrame({"hct": [30.0, 44.0], "weight": [60.0, 90.0]})
    table = compare(REGIMENS, subjects=subjects, metrics=TEXT_METRICS).frame
    for regimen in REGIMENS:
        drug = regimen.split()[0]
        rows = table[table["regimen"] == regimen].reset_index(drop=True)
        alone = [compare([regimen], model=name, subjects=subjects, metrics=TEXT_METRICS,
                         spread=False).frame for name in _shipped(drug)]
        assert len(alone) >= 2
        for col in NUMERIC:
            values = np.stack([a[col].to_numpy(float) for a in alone])
            assert rows[col + LOW].tolist() == pytest.approx(values.min(axis=0), rel=1e-12)
            assert rows[col + HIGH].tolist() == pytest.approx(values.max(axis=0), rel=1e-12)
            assert (rows[col + LOW] <= rows[col]).all() and (rows[col] <= rows[col + HIGH]).all()
        # The default model first, then the others in shipped order.
        own = rows["model"][0]
        assert rows["range_models"][0].split(",") == [own, *(n for n in _shipped(drug)
                                                              if n != own)]


def test_a_new_shipped_model_joins_the_range_without_code_changes(monkeypatch):
    import pkdose.comparison as comparison

    models = builtin_models()
    slow = models["wu2012"].with_params(cl=models["wu2012"].typical("cl") / 2)
    extra = {**models, "wu2012-slow": replace(slow, name="wu2012-slow", default=False)}
    monkeypatch.setattr(comparison, "builtin_models", lambda species="human": extra)
    row = compare(["sirolimus 6 mg weekly"], metrics=["Cavg"]).frame.iloc[0]
    assert row["range_models"].split(",")[-1] == "wu2012-slow"
    # Half the clearance of a linear-disposition model doubles the steady-state Cavg.
    assert row["cavg_ng_ml_model_high"] >= 2 * row["cavg_ng_ml"] * (1 - 1e-6)


def test_valid_means_same_drug_species_route_and_comedication_not_dose_range():
    scn = scenario("sirolimus 6 mg weekly")
    assert [s.model.name for s in alternative_scenarios(scn)] == [
        n for n in _shipped("sirolimus") if n != "wu2012"]
    # A dose outside a model's fitted range warns (one line for the range's models) and
    # stays in the range; the default model keeps its own warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        row = compare(["everolimus 20 mg weekly"], metrics=["Cavg"]).frame.iloc[0]
    assert "dewit2016" in row["range_models"]
    said = [str(w.message) for w in caught]
    assert any("0.75-10 mg range the terheine2018 model" in m for m in said)
    ranged = [m for m in said if m.startswith("the model range of everolimus 20 mg weekly")]
    assert len(ranged) == 1 and "dewit2016" in ranged[0]
    named = ranged[0].split(" includes ")[1].split(" outside ")[0].split(", ")
    models = builtin_models()
    # Exactly the other models whose fitted doses exclude 20 mg are named.
    assert named == [n for n in _shipped("everolimus") if n != "terheine2018"
                     and not (models[n].validity("dose_mg")[0] <= 20
                              <= models[n].validity("dose_mg")[1])]
    # A dose resolved with the default body size is the regimen's caveat, not a model's.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        compare(["sirolimus 0.1 mg/kg weekly"], metrics=["Cavg"])
    assert not any("model range" in str(w.message) for w in caught)
    # A model that already carries a co-medication as a covariate cannot take it by name.
    row = compare(["everolimus 5 mg daily"], model="dewit2016", with_="prednisolone",
                  metrics=["Cavg"]).frame.iloc[0]
    carries = [n for n in _shipped("everolimus")
               if any(e.covariate == "prednisolone_mg_day" for e in models[n].effects)]
    assert carries == ["terheine2018"]
    assert row["range_models"].split(",") == ["dewit2016", *(
        n for n in _shipped("everolimus") if n not in ("dewit2016", *carries))]
    # Animal regimens range over their own species' models only.
    mouse = compare(["rapamycin 14 ppm diet"], species="mouse", metrics=["Cavg"]).frame.iloc[0]
    assert mouse["range_models"].split(",") == _shipped("sirolimus", "mouse")


def test_the_verdict_says_when_the_models_disagree():
    # A weekly sirolimus dose near the spared/equivocal boundary: Wu 2012 spares mTORC2,
    # Golubovic 2019 (linear absorption, slower clearance) leaves it equivocal.
    regimen = "sirolimus 6 mg weekly"
    alone = {name: compare([regimen], model=name, metrics=["mTORC2 verdict"], spread=False)
             .frame["mtorc2_verdict"][0] for name in _shipped("sirolimus")}
    assert len(set(alone.values())) > 1
    v = flag([regimen])[0]
    assert v.pk_model_labels == {"wu2012": v.label, **{k: alone[k] for k in alone
                                                       if k != "wu2012"}}
    assert v.pk_model_labels == {k: alone[k] for k in v.pk_model_labels}
    assert v.pk_models_disagree
    said = "models disagree: " + ", ".join(f"{k} {x}" for k, x in v.pk_model_labels.items())
    assert v.reasons[-1] == said and f"  - {said}\n" in v.to_text()
    d = v.to_dict()
    assert d["verdict_by_pk_model"] == dict(v.pk_model_labels) and d["pk_models_disagree"]
    row = compare([regimen], metrics=["mTORC2 verdict"]).frame.iloc[0]
    assert bool(row["mtorc2_models_disagree"])
    assert row["mtorc2_verdict_by_model"] == said.removeprefix("models disagree: ")


def test_models_that_agree_say_so_and_spread_false_is_the_single_model_answer():
    v = flag(["everolimus 5 mg weekly"])[0]
    assert not v.pk_models_disagree
    assert list(v.pk_model_labels) == ["terheine2018", *(n for n in _shipped("everolimus")
                                                         if n != "terheine2018")]
    assert v.reasons[-1].startswith("every PK model valid for the regimen agrees")
    single = flag(["everolimus 5 mg weekly"], spread=False)[0]
    assert single.pk_model_labels == {} and single.reasons == v.reasons[:-1]
    frame = compare(["everolimus 5 mg weekly"], metrics=TEXT_METRICS, spread=False).frame
    assert not any(c.endswith((LOW, HIGH)) for c in frame.columns)
    assert "range_models" not in frame and "range over" not in compare(
        ["everolimus 5 mg weekly"], metrics=TEXT_METRICS, spread=False).to_text()


def test_a_one_model_drug_shows_no_brackets():
    table = compare(["rapamycin 14 ppm diet"], species="mouse", metrics=TEXT_METRICS)
    row = table.frame.iloc[0]
    assert len(row["range_models"].split(",")) == 1
    assert all(row[c + LOW] == row[c] == row[c + HIGH] for c in NUMERIC
               if np.isfinite(row[c]))
    text = table.to_text()
    assert "[" not in text and "range over" not in text and RANGE_LEGEND not in text
    assert not flag(["rapamycin 14 ppm diet"], species="mouse")[0].pk_models_disagree


def test_text_csv_json_and_long_form_show_the_same_range(tmp_path):
    csv, js = tmp_path / "c.csv", tmp_path / "c.json"
    res = CliRunner().invoke(main, ["compare", *REGIMENS, "--csv", str(csv), "--json", str(js)])
    assert res.exit_code == 0, res.stderr
    wide = pd.read_csv(csv)
    rows = json.loads(js.read_text())["rows"]
    lines = res.stdout.splitlines()
    header = lines[0]
    assert RANGE_LEGEND in res.stdout
    for k, regimen in enumerate(REGIMENS):
        line, span = lines[2 + 2 * k], lines[3 + 2 * k]
        assert line.startswith(regimen) and span.startswith("  range over ")
        for name in ("Cmax", "Ctrough", "Cavg", "AUC168", "mTORC2 mean"):
            q = QUANTITIES[name]
            end = header.index(q.label) + len(q.label)
            lo, hi = wide[q.column + LOW][k], wide[q.column + HIGH][k]
            shown = f"[{format_value(lo, q.unit)}-{format_value(hi, q.unit)}]"
            assert span[end - len(shown):end] == shown
            assert rows[k][q.column + LOW] == pytest.approx(lo, rel=1e-9)
            assert rows[k][q.column + HIGH] == pytest.approx(hi, rel=1e-9)
        star = "*" if wide["mtorc2_models_disagree"][k] else ""
        assert re.search(rf"  {wide['mtorc2_verdict'][k]}{re.escape(star)}$", line)
        assert rows[k]["mtorc2_verdict_by_model"] == wide["mtorc2_verdict_by_model"][k]
    # The long form: each value with its range, and every model's value on request.
    table = compare(REGIMENS, metrics=TEXT_METRICS)
    long = table.to_long()
    cavg = long[long["metric"] == "Cavg"]
    assert cavg["model_low"].tolist() == table.frame["cavg_ng_ml_model_low"].tolist()
    every = table.to_long(models=True)
    every = every[every["metric"] == "Cavg"]
    assert every[every["primary"]]["value"].tolist() == cavg["value"].tolist()
    low = every.groupby("regimen", sort=False)["value"].min()
    assert low.tolist() == pytest.approx(cavg["model_low"].tolist(), rel=1e-12)
    assert sorted(every["model"]) == sorted(n for r in REGIMENS
                                            for n in _shipped(r.split()[0]))


def test_the_ranges_quoted_in_the_user_guide_are_what_pkdose_prints():
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "user-guide.md").read_text()
    row = compare(["sirolimus 6 mg weekly"], metrics=["Ctrough", "AUC168"]).frame.iloc[0]
    for col, unit in (("ctrough_ng_ml", "ng/mL"), ("auc168_ng_h_ml", "ng*h/mL")):
        quoted = f"[{format_value(row[col + LOW], unit)}-{format_value(row[col + HIGH], unit)}]"
        assert quoted in guide, f"docs/user-guide.md section 1 should quote {quoted}"
    said = ", ".join(f"{k} {x}" for k, x in flag(["sirolimus 6 mg weekly"])[0]
                     .pk_model_labels.items())
    assert " ".join(f'"models disagree: {said}"'.split()) in " ".join(guide.split())
