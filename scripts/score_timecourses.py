"""Score every shipped sirolimus model on the training time courses; write the doc page.

Usage: python scripts/score_timecourses.py [--check] [--data PATH]

Writes docs/validation-timecourses.md: every shipped sirolimus model (typical subject with
each profile's reported covariates, as published) against the 16 healthy single-dose mean
profiles of ``shared/data/sirolimus_timecourses_training.json`` (PK-DB curation, Jesionek &
Koenig 2026, doi:10.5281/zenodo.17091694, CC BY-SA 4.0), per profile and in summary, and the
same models on the shipped observations (``pkdose.validation.validation_table``, called, not
recomputed). A model fitted to these profiles (a ``[fit]`` table in its file, such as
pkdose2026) is also scored formulation-matched (the oral solution's fitted Vm and F for
solution profiles) and out of sample (each cohort predicted by the refit without it, from
``[fit.leave_one_cohort_out]``); its other scores here are in-sample. The page ends with the
proposed rule for the default sirolimus model and what it gives.

``--check`` exits with status 1 instead of writing when the page is stale
(tests/test_docs.py runs it).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pkdose._docgen import sync_doc
from pkdose.children import is_paediatric
from pkdose.dev.timecourses import TERMINAL_FROM_H, TimeCourse, load_timecourses, predict, score
from pkdose.dev.validation_report import comparison_section, fmt, table
from pkdose.model import Model, builtin_models
from pkdose.simulation import prepare
from pkdose.validation import load_observations, terminal_half_life_h, validation_table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sirolimus_timecourses_training.json"
DOC = ROOT / "docs" / "validation-timecourses.md"
SCRIPT = "scripts/score_timecourses.py"
DRUG = "sirolimus"
#: Doses of ageing practice a default model's fitted range should cover (rule R3).
AGEING_DOSE_MG = (0.5, 10.0)
#: R3's population clause, judged by hand against the default's population (cancer
#: patients, no calcineurin inhibitor): is the candidate's at least as close to healthy
#: adults? Keyed by model name; a model not listed is "not judged".
POPULATION_JUDGEMENT = {
    "golubovic2019": ("not met: kidney-transplant recipients on mycophenolate and "
                      "corticosteroids, trough data"),
    "pkdose2026": "met: healthy adults",
}


@dataclass(frozen=True)
class Variant:
    """A way of predicting every profile with one model."""

    key: str
    model: Model
    label: str
    in_sample: bool
    #: Typical-value overrides per profile (by id); missing ids use the model as shipped.
    overrides: dict

    def model_for(self, tc: TimeCourse) -> Model:
        params = self.overrides.get(tc.id)
        return self.model.with_params(**params) if params else self.model


def fit_table(model: Model) -> dict:
    """The ``[fit]`` table of a shipped model file ({} for a published model)."""
    with resources.files("pkdose.models").joinpath(Path(model.path).name).open("rb") as fh:
        return tomllib.load(fh).get("fit", {})


def variants(models: list[Model], tcs: tuple[TimeCourse, ...]) -> list[Variant]:
    out = []
    for m in models:
        fit = fit_table(m)
        fitted_here = bool(fit)
        out.append(Variant(m.name, m, f"{m.name} as shipped", fitted_here, {}))
        sol = fit.get("oral_solution")
        if sol:
            solution = {tc.id: {"vm": sol["vm"]["value"], "f": sol["f"]["value"]}
                        for tc in tcs if tc.formulation == "solution"}
            out.append(Variant(f"{m.name}-matched", m,
                               f"{m.name} formulation-matched", True, solution))
        loco = fit.get("leave_one_cohort_out")
        if loco:
            # The shipped model's own parameters as each refit estimated them.
            keys = [k for k in ("cl", "v1", "q", "v2", "q2", "v3", "vm") if k in m.parameters]
            over = {}
            for tc in tcs:
                v = loco[tc.cohort]
                over[tc.id] = {k: v[k] for k in keys}
                if tc.formulation == "solution" and sol:
                    over[tc.id] |= {"vm": v["vm_solution"], "f": v["f_solution"]}
            out.append(Variant(f"{m.name}-loco", m,
                               f"{m.name} leave-one-cohort-out, formulation-matched", False,
                               over))
            tablet = {tc.id: {k: loco[tc.cohort][k] for k in keys} for tc in tcs}
            out.append(Variant(f"{m.name}-loco-shipped", m,
                               f"{m.name} leave-one-cohort-out, as shipped (tablet "
                               "absorption for every profile)", False, tablet))
    return out


def score_all(vs: list[Variant], tcs: tuple[TimeCourse, ...]) -> pd.DataFrame:
    rows = []
    for v in vs:
        for tc in tcs:
            s = score(tc, predict(tc, v.model_for(tc)))
            rows.append({"variant": v.key, "profile": tc.id, "formulation": tc.formulation,
                         "dose_mg": tc.dose_mg, "last_h": float(tc.times_h[-1]), **s})
    return pd.DataFrame(rows)


def gmean(x: pd.Series) -> float:
    return float(np.exp(np.mean(np.log(x.astype(float)))))


def span(x: pd.Series) -> str:
    return f"{fmt(gmean(x))} ({fmt(x.min())}-{fmt(x.max())})"


def model_half_life(m: Model) -> float:
    """Terminal half-life of the model's typical subject (pkdose.validation)."""
    return float(terminal_half_life_h(prepare(m))[0])


def summary_rows(vs: list[Variant], sc: pd.DataFrame) -> list[list[str]]:
    rows = []
    for v in vs:
        g = sc[sc["variant"] == v.key]
        n_pts = g["n_points"].sum()
        within = (g["within_2fold"] * g["n_points"]).sum() / n_pts
        th = g.dropna(subset=["thalf_obs_h", "thalf_pred_h"])
        rows.append([
            v.label, "**in-sample**" if v.in_sample else "out of sample",
            f"{fmt(g['gmfe'].median())} ({fmt(g['gmfe'].min())}-{fmt(g['gmfe'].max())})",
            f"{100 * within:.0f} %", span(g["cmax_ratio"]), span(g["auc_ratio"]),
            span(g["tail_ratio"]),
            f"{fmt(th['thalf_pred_h'].median())} vs {fmt(th['thalf_obs_h'].median())}",
            fmt(model_half_life(v.model)),
        ])
    return rows


def profile_table(v: Variant, sc: pd.DataFrame) -> str:
    g = sc[sc["variant"] == v.key]
    rows = [[r.profile, r.formulation, fmt(r.dose_mg), fmt(r.gmfe),
             f"{100 * r.within_2fold:.0f} %", fmt(r.cmax_ratio),
             f"{fmt(r.tmax_obs_h)} / {fmt(r.tmax_pred_h)}", fmt(r.auc_ratio),
             f"{fmt(r.tail_ratio)} at {fmt(r.last_h)} h",
             f"{fmt(r.thalf_obs_h)} / {fmt(r.thalf_pred_h)}"]
            for r in g.itertuples(index=False)]
    return table(["Profile", "Form", "Dose mg", "GMFE", "Within 2-fold", "Cmax ratio",
                  "tmax obs / pred h", "AUC ratio", "Tail ratio", "t½ obs / pred h"], rows)


def observation_section(models: list[Model]) -> tuple[str, pd.DataFrame]:
    tab = validation_table(models=models)
    tab = tab[tab["drug"] == DRUG]
    obs = load_observations()
    text = comparison_section(tab, obs).replace("## Comparison", "## Shipped observations", 1)
    return text, tab


RULE = """\
Written before any model was scored on these profiles or the shipped observations with the
final fit; the lead decides after merging. A shipped sirolimus model replaces the current
default only if all hold:

* **R1, no regression on shipped observations**: it passes every comparable sirolimus row of
  `docs/validation.md` that the current default passes (typical subject, as published).
* **R2, better on the time courses out of sample**: on the 16 training profiles its
  leave-one-cohort-out median per-profile GMFE is lower than the current default's, and its
  overall share of points within 2-fold is not lower. In-sample scores do not count.
* **R3, fitted range covers the main use**: its fitted dose range covers the 0.5-10 mg
  doses of ageing practice, and the population it was fitted to is at least as close to
  healthy adults as the default's.

If several candidates qualify, the lowest out-of-sample median GMFE wins; otherwise the
default stays."""


def rule_section(vs: list[Variant], sc: pd.DataFrame, obs_tab: pd.DataFrame) -> str:
    default = next(v.model for v in vs if v.model.default)
    base = sc[sc["variant"] == default.name]
    base_gmfe = base["gmfe"].median()
    base_within = (base["within_2fold"] * base["n_points"]).sum() / base["n_points"].sum()
    passed_by_default = set(obs_tab[(obs_tab["model"] == default.name)
                                    & obs_tab["passed"].eq(True)]["id"])
    lines = ["## Proposed rule for the default model", "", RULE, "",
             f"Current default: `{default.name}` (median GMFE {fmt(base_gmfe)}, "
             f"{100 * base_within:.0f} % of points within 2-fold).", ""]
    rows = []
    for v in vs:
        m = v.model
        if m.default or v.in_sample or (v.key != m.name and "loco" not in v.key):
            continue
        g = sc[sc["variant"] == v.key]
        within = (g["within_2fold"] * g["n_points"]).sum() / g["n_points"].sum()
        mine = obs_tab[obs_tab["model"] == m.name]
        lost = sorted(i for i in passed_by_default
                      if not bool(mine[mine["id"] == i]["passed"].eq(True).any()))
        r1 = "met" if not lost else f"not met ({', '.join(lost)})"
        r2_ok = g["gmfe"].median() < base_gmfe and within >= base_within - 1e-12
        r2 = (f"{'met' if r2_ok else 'not met'}: median GMFE {fmt(g['gmfe'].median())}, "
              f"{100 * within:.0f} % within 2-fold")
        rng = m.validity("dose_mg")
        covers = rng is not None and rng[0] <= AGEING_DOSE_MG[0] and rng[1] >= AGEING_DOSE_MG[1]
        pop = POPULATION_JUDGEMENT.get(m.name, "not judged")
        r3 = (f"dose range {fmt(rng[0])}-{fmt(rng[1])} mg "
              f"{'covers' if covers else 'does not cover'} 0.5-10 mg" if rng
              else "no dose range") + f"; population {pop}"
        ok = not lost and r2_ok and covers and pop.startswith("met")
        rows.append([v.label, r1, r2, r3, "qualifies" if ok else "does not qualify"])
    lines.append(table(["Candidate (scores used for R2)", "R1", "R2", "R3 (dose range; "
                        "population)", "Outcome"], rows))
    winners = sorted({r[0].split()[0] for r in rows if r[-1] == "qualifies"})
    drng = default.validity("dose_mg")
    lines += ["", "**Outcome under the rule as written:** " + (
        f"{', '.join(f'`{w}`' for w in winners)} qualif{'y' if len(winners) > 1 else 'ies'}."
        if winners else f"no candidate qualifies, so the default stays `{default.name}`.")
        + (f" (For comparison, `{default.name}`'s own fitted range, {fmt(drng[0])}-"
           f"{fmt(drng[1])} mg, does not reach 0.5 mg either.)"
           if drng and drng[0] > AGEING_DOSE_MG[0] else "")]
    lines += ["", "R3's population clause is judged by hand (`POPULATION_JUDGEMENT` in "
              f"`{SCRIPT}`) against the default's population: "
              f"{default.population.get('description')}."]
    return "\n".join(lines)


def render(path: Path = DATA) -> str:
    meta, tcs = load_timecourses(path)
    # Adult time courses: the paediatric model refuses adults.
    models = sorted((m for m in builtin_models().values()
                     if m.drug == DRUG and not is_paediatric(m)),
                    key=lambda m: (not m.default, m.name))
    vs = variants(models, tcs)
    sc = score_all(vs, tcs)
    obs_text, obs_tab = observation_section(models)
    fitted = [v.model.name for v in vs if v.in_sample]
    parts = [
        "# Sirolimus models against the training time courses",
        "",
        f"<!-- Generated by {SCRIPT} from pkdose/dev/timecourses.py, the shipped model files and "
        "shared/data/sirolimus_timecourses_training.json; do not edit by hand. -->",
        "",
        f"Every shipped sirolimus model ({', '.join(f'`{m.name}`' for m in models)}) "
        f"against the {len(tcs)} mean whole-blood profiles of the training set: healthy "
        "adults, one oral dose, fasted, no co-medication, sampled to 144-312 h (Brattstrom "
        "2000, Korth-Bradley 2012, Leung 2006, Zhang 2017, Zimmerman 2008 controls). The "
        "profiles were digitised and curated by PK-DB and are shipped with the rapamycin "
        "PBPK model of Jesionek & Koenig 2026, doi:10.5281/zenodo.17091694 "
        f"({meta['data_license']}); the numbers on this page are derived from them and "
        "carry the same licence.",
        "",
        f"**In-sample warning.** {', '.join(f'`{n}`' for n in dict.fromkeys(fitted))} "
        "was fitted to these same profiles (`scripts/fit_sirolimus_pk.py`), so its scores "
        "marked in-sample say how well it was fitted, not how well it predicts; its "
        "leave-one-cohort-out rows (each cohort predicted by a refit without that cohort) "
        "are the out-of-sample comparison. The published models were not fitted to these "
        "data.",
        "",
        "## Method",
        "",
        "* Each profile is simulated with `pkdose.simulation.simulate` for the model's typical "
        "subject with the covariates the profile reports (weight, age, height, haematocrit, "
        "BSA; a mixed-sex group as male, its majority), the regimen as curated (mg/m² doses "
        "with the group's BSA), at the sampled times. Points at t = 0 are left out "
        "(drug-naive subjects: the curation flags nonzero values there as digitisation "
        "artefacts).",
        "* GMFE: geometric mean fold error, exp(mean |ln(pred/obs)|) over a profile's points. "
        "Within 2-fold: share of points with 0.5 ≤ pred/obs ≤ 2 (in the summary, over all "
        "points). Cmax ratio: highest sampled prediction over highest observation. AUC "
        "ratio: linear-trapezoid AUC from 0 over the sampled span. Tail ratio: pred/obs at "
        "the last sampled point. t½: ln 2 over the slope of a log-linear fit to the points "
        f"from {TERMINAL_FROM_H:g} h on (three or more), for observation and prediction "
        "alike (n/a for the 0.3 mg/m² profile, sampled to 48 h). Model t½: ln 2 / λz of the "
        "model's typical subject.",
        "* Ratios in the summary are geometric means over profiles, with the range.",
        "* Formulation-matched: the model as shipped is the tablet; for oral-solution "
        "profiles the fitted solution Vm and relative F from the model file's "
        "`[fit.oral_solution]` are used (`--param vm=... --param f=...`).",
        "",
        "## Summary",
        "",
        table(["Model / variant", "Scores", "Median GMFE (range)", "Points within 2-fold",
               "Cmax ratio", "AUC ratio", "Tail ratio", "t½ pred vs obs (median, h)",
               "Model t½ h"], summary_rows(vs, sc)),
        "",
        "## Per profile",
        "",
    ]
    for v in vs:
        tag = "in-sample" if v.in_sample else "out of sample"
        parts += [f"### {v.label} ({tag})", "", profile_table(v, sc), ""]
    parts += [
        obs_text, "",
        "Brattstrom 2000's rows (terminal half-life, CL/F, Vss/F of healthy men) are NCA "
        "results from the same study whose five mean profiles are in the training set, so "
        "for fitted models they are partly in-sample; Zimmerman 1999 (15 mg, food study) "
        "is not in the training set.",
        "",
        rule_section(vs, sc, obs_tab),
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    ap.add_argument("--data", type=Path, default=DATA, help="training JSON")
    args = ap.parse_args(argv)
    return sync_doc(DOC, render(args.data), args.check, SCRIPT)


if __name__ == "__main__":
    sys.exit(main())
