"""Apply the default-choice rule for everolimus to every shipped everolimus model.

Usage: python scripts/score_everolimus.py [--check]

Writes docs/validation-everolimus.md: the rule (E1-E3, written before Mo 2025 was scored on
any observation), every shipped non-default everolimus model judged against it from the
shipped observations (``pkdose.validation.validation_table``, called, not recomputed), the
outcome, and the steady-state weekly troughs of every shipped everolimus model (the
regimens the rule is about), as ``pkdose compare`` prints them.

``--check`` exits with status 1 instead of writing when the page is stale
(tests/test_docs.py runs it).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from pkdose._docgen import markdown_table, sync_doc
from pkdose.dev.validation_report import fmt
from pkdose.errors import ExtrapolationWarning
from pkdose.model import Model, builtin_models
from pkdose.validation import validation_table

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "validation-everolimus.md"
SCRIPT = "scripts/score_everolimus.py"
DRUG = "everolimus"
#: Doses per administration a default everolimus model should cover (rule E3): the ageing
#: references (0.5 mg daily, 5 and 20 mg weekly; Mannick 2014) and oncology (10 mg daily).
MAIN_DOSE_MG = (0.5, 20.0)
#: E3's population clause, judged by hand: was the model fitted to people from the
#: populations the shipped everolimus observations come from (European or North American
#: healthy volunteers or patients)? Keyed by model name; a model not listed is "not judged".
POPULATION_JUDGEMENT = {
    "dewit2016": "met: Dutch adults with thyroid cancer",
    "mo2025": "not met: healthy Korean men (Seoul)",
}
#: Weekly regimens whose steady-state troughs the page lists for every model.
WEEKLY = ("everolimus 5 mg weekly", "everolimus 10 mg weekly", "everolimus 20 mg weekly")

RULE = """\
Written, and committed, before `mo2025` was scored on any observation; the lead decides
after merging. A shipped everolimus model replaces the current default only if all hold:

* **E1, no regression on shipped observations**: it passes every everolimus row of
  `docs/validation.md` that the current default passes (typical subject, as published).
  A row the candidate cannot compute at all (a plasma fraction from a model without
  plasma concentrations) does not count against it.
* **E2, terminal phase**: it passes every terminal half-life row of `docs/validation.md`
  for everolimus (the default fails all four: its ~20 h plasma beta phase comes from
  sampling windows of at most 24 h).
* **E3, range and population cover the main use**: its fitted dose range covers at least
  as much of 0.5-20 mg per dose (ageing references 0.5 mg daily and 5 and 20 mg weekly,
  oncology 10 mg daily) as the default's, and it was fitted to people from the
  populations the shipped everolimus observations come from (European or North American
  healthy volunteers or patients).

If several candidates qualify, the one passing the most everolimus rows wins; otherwise
the default stays. The rule judges typical-subject predictions against published values
and tunes nothing: a candidate that misses a row is reported, not adjusted."""


def covered_mg(model: Model) -> float:
    """Length of the model's fitted dose range inside :data:`MAIN_DOSE_MG` (mg)."""
    rng = model.validity("dose_mg")
    if rng is None:
        return 0.0
    return max(0.0, min(rng[1], MAIN_DOSE_MG[1]) - max(rng[0], MAIN_DOSE_MG[0]))


def rule_section(models: list[Model], tab: pd.DataFrame) -> str:
    default = next(m for m in models if m.default)
    mine = {m.name: tab[tab["model"] == m.name] for m in models}
    passed_by_default = set(mine[default.name][mine[default.name]["passed"].eq(True)]["id"])
    thalf = sorted(set(tab[tab["metric"] == "terminal_half_life"]["id"]))
    lines = ["## Rule for the default everolimus model", "", RULE, "",
             f"Current default: `{default.name}` (dose range "
             f"{fmt(default.validity('dose_mg')[0])}-{fmt(default.validity('dose_mg')[1])} "
             f"mg, {fmt(covered_mg(default))} mg of {fmt(MAIN_DOSE_MG[0])}-"
             f"{fmt(MAIN_DOSE_MG[1])} mg; {default.population.get('description')}).", ""]
    rows, winners = [], []
    for m in models:
        if m.default:
            continue
        t = mine[m.name]
        computable = set(t[t["passed"].notna()]["id"])
        lost = sorted(i for i in passed_by_default & computable
                      if not bool(t[t["id"] == i]["passed"].eq(True).any()))
        e1 = "met" if not lost else f"not met ({', '.join(lost)})"
        missed = sorted(i for i in thalf if not bool(t[t["id"] == i]["passed"].eq(True).any()))
        e2 = (f"met ({len(thalf)} of {len(thalf)})" if not missed
              else f"not met ({', '.join(missed)})")
        rng = m.validity("dose_mg")
        wide = covered_mg(m) >= covered_mg(default) - 1e-12
        pop = POPULATION_JUDGEMENT.get(m.name, "not judged")
        e3 = (f"dose range {fmt(rng[0])}-{fmt(rng[1])} mg covers {fmt(covered_mg(m))} mg "
              f"({'met' if wide else 'not met'})" if rng else "no dose range (not met)")
        e3 += f"; population {pop}"
        n_pass = int(t["passed"].eq(True).sum())
        ok = not lost and not missed and wide and pop.startswith("met")
        if ok:
            winners.append((n_pass, m.name))
        rows.append([m.name, e1, e2, e3, f"{n_pass} of {len(t)}",
                     "qualifies" if ok else "does not qualify"])
    lines.append(markdown_table(["Candidate", "E1", "E2", "E3 (dose range; population)",
                                 "rows passed", "Outcome"], rows))
    outcome = (f"`{max(winners)[1]}` qualifies and replaces `{default.name}`." if winners
               else f"no candidate qualifies, so the default stays `{default.name}`.")
    lines += ["", f"**Outcome under the rule as written:** {outcome}", "",
              "E3's population clause is judged by hand (`POPULATION_JUDGEMENT` in "
              f"`{SCRIPT}`)."]
    return "\n".join(lines)


def troughs_section(models: list[Model]) -> str:
    from pkdose.comparison import compare

    rows = []
    for m in models:
        with warnings.catch_warnings():
            # Doses outside a model's fitted range are the point of the table; the page
            # says which ranges each model was fitted to.
            warnings.simplefilter("ignore", ExtrapolationWarning)
            frame = compare(list(WEEKLY), model=m, with_pd=False,
                            metrics=["Ctrough", "Cmax"]).frame
        rows.append([m.name + (" (default)" if m.default else ""),
                     *(fmt(v) for v in frame["ctrough_ng_ml"]),
                     *(fmt(v) for v in frame["cmax_ng_ml"])])
    return "\n".join([
        "## Weekly regimens: steady-state troughs and peaks", "",
        "Typical subject (`pkdose/data/subject.toml`), whole blood, ng/mL, as `pkdose "
        "compare --model NAME` prints them. Fitted dose ranges: "
        + "; ".join(f"{m.name} {fmt(m.validity('dose_mg')[0])}-"
                    f"{fmt(m.validity('dose_mg')[1])} mg" for m in models)
        + " (outside them the values are extrapolated).", "",
        markdown_table(["Model", *(f"Ctrough {r.split()[1]} mg/wk" for r in WEEKLY),
                        *(f"Cmax {r.split()[1]} mg/wk" for r in WEEKLY)], rows)])


def render() -> str:
    models = sorted((m for m in builtin_models().values() if m.drug == DRUG),
                    key=lambda m: (not m.default, m.name))
    tab = validation_table(models=models)
    tab = tab[tab["drug"] == DRUG]
    return "\n".join([
        "# Everolimus: which model is the default", "",
        "Generated by `" + SCRIPT + "` from the shipped everolimus models and the shipped "
        "observations (`docs/validation.md`); do not edit by hand.", "",
        rule_section(models, tab), "", troughs_section(models), ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = ap.parse_args(argv)
    return sync_doc(DOC, render(), args.check, SCRIPT)


if __name__ == "__main__":
    sys.exit(main())
