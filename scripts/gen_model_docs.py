"""Generate docs/models.md from the model registry (:func:`pkdose.model.builtin_models`).

Usage: python scripts/gen_model_docs.py [--check] [--output PATH]

The whole page is generated: an index of the shipped models, how to choose and add one,
one model card per model (structure, equations, parameters, covariate effects,
variability, residual error, population, citation, figures derived by pkdose's own code
for the typical subject, known discrepancies) and the TOML schema of model files.
``--check`` exits with status 1 instead of writing when the page is stale
(tests/test_model.py runs the same comparison). The output depends only on the model
files, ``pkdose/data/*.toml`` and this script, so it is the same on every run.
"""

from __future__ import annotations

import argparse
import math
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from pkdose import model as model_module
from pkdose import solver
from pkdose._docgen import sync_doc
from pkdose.model import (
    ABSORPTION,
    BLOOD,
    CLEARANCE,
    COVARIATES,
    EFFECT_FORMS,
    INDICATOR_OPS,
    CovariateEffect,
    Model,
    builtin_models,
    covariate_table,
    default_subject,
    individual_parameters,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "models.md"


@dataclass(frozen=True)
class LabelHalfLife:
    """The half-life a drug label (and supporting literature) reports, for comparison."""

    hours: float
    text: str
    low: float | None = None
    high: float | None = None
    range_text: str = ""
    source: str = ""


# Not in the package data: label half-lives are only used to describe the models here.
LABEL_HALF_LIFE = {
    "sirolimus": LabelHalfLife(
        62.0,
        "Rapamune label's mean terminal half-life of about 62 h",
        source=(
            "Rapamune (sirolimus) US prescribing information (Wyeth/Pfizer; NDA 021083 "
            "oral solution, NDA 021110 tablets), clinical pharmacology: mean terminal "
            "half-life about 62 h (62 ± 16 h in stable renal transplant patients)."
        ),
    ),
    "everolimus": LabelHalfLife(
        30.0,
        "Afinitor label's mean elimination half-life of about 30 h",
        low=26.0,
        high=38.0,
        range_text="O'Donnell 2008's range of 26-38 h",
        source=(
            "Afinitor (everolimus) US prescribing information (Novartis; NDA 022334): mean "
            "elimination half-life about 30 h. O'Donnell A et al. Phase I pharmacokinetic "
            "and pharmacodynamic study of the oral mammalian target of rapamycin inhibitor "
            "everolimus in patients with advanced solid tumors. J Clin Oncol "
            "2008;26(10):1588-1595, doi:10.1200/JCO.2007.14.0988, PMID 18332470: terminal "
            "half-life 30 h (range 26-38 h), 92 patients, 5-70 mg weekly and 5-10 mg daily."
        ),
    ),
}

# Symbols used in the equations; parameters not listed appear under their TOML key.
SYMBOL = {
    "ka": "ka", "mat": "MAT", "vm": "Vm", "km": "Km", "cl": "CL", "v1": "V1", "q": "Q",
    "v2": "V2", "q2": "Q2", "v3": "V3", "clint": "CLint", "fu": "fu", "qh": "QH",
    "bmax_ng_ml": "Bmax", "kd_ng_ml": "Kd", "kns": "Kns", "f": "F", "tlag": "tlag",
}
COV_SYMBOL = {
    "sex": "SEX", "weight_kg": "WT", "height_cm": "HT", "age_y": "AGE", "hct_pct": "HCT",
    "ast_iu_l": "AST", "prednisolone_mg_day": "PRED", "abcb1_ttt": "TTT", "ffm_kg": "FFM",
    "bsa_m2": "BSA",
}
OPTIONAL_PARAMS = {
    "f": "oral bioavailability multiplier on the dose (default 1; with `well_stirred_liver` "
         "it multiplies F = 1 - EH)",
    "tlag": "absorption lag time, h (default 0)",
}


# --- formatting -----------------------------------------------------------------------

def num(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures in fixed notation (no exponent)."""
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    return f"{x:.{decimals}f}"


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(head: list[str], rows: Iterable[list[object]]) -> list[str]:
    """A Markdown table as lines."""
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def sym(key: str) -> str:
    return SYMBOL.get(key, key)


def cv_pct(omega: float) -> float:
    """CV % of a log-normal parameter with log-scale variance ``omega``."""
    return 100.0 * math.sqrt(math.exp(omega) - 1.0)


def logit_cv_pct(typical: float, omega: float) -> float:
    """CV % of a logit-normal fraction, expit(logit(typical) + eta), eta ~ N(0, omega),
    by Gauss-Hermite quadrature (80 nodes: the integrand is smooth and bounded)."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    p = 1.0 / (1.0 + (1.0 / typical - 1.0) * np.exp(-math.sqrt(omega) * x))
    mean = float(w @ p)
    return 100.0 * math.sqrt(float(w @ (p - mean) ** 2)) / mean


def span(rng: object, unit: str = "") -> str:
    if isinstance(rng, (list, tuple)) and len(rng) == 2:
        return f"{rng[0]:g}-{rng[1]:g}{(' ' + unit) if unit else ''}"
    return ""


def short_source(m: Model) -> str:
    """'Wu 2012' from the title, with the DOI as a link."""
    head = m.title.split(":")[0].strip() if ":" in m.title else m.name
    doi = m.source.get("doi")
    return f"{head}, [doi:{doi}](https://doi.org/{doi})" if doi else head


# --- equations ------------------------------------------------------------------------

def effect_term(e: CovariateEffect) -> str:
    """One covariate effect as a factor, in the form the source writes it."""
    c = COV_SYMBOL.get(e.covariate, e.covariate)
    if e.form == "power":
        if e.exponent < 0:  # Wu 2012 writes (35.1/HCT)^0.14, not (HCT/35.1)^-0.14
            base, power = f"({e.reference:g}/{c})", -e.exponent
        else:
            base, power = f"({c}/{e.reference:g})", e.exponent
        return base if power == 1 else f"{base}^{power:g}"
    if e.form == "linear_ratio":
        sign = "-" if e.slope < 0 else "+"
        return f"(1 {sign} {abs(e.slope):g}·{c}/{e.reference:g})"
    op = {">=": "≥", "<=": "≤"}.get(e.op, e.op)
    return f"{e.factor:g}^[{c} {op} {e.threshold:g}]"


def covariate_equations(m: Model) -> list[str]:
    lines = []
    for key, par in m.parameters.items():
        terms = [effect_term(e) for e in m.effects if e.parameter == key]
        if terms:
            unit = "" if par.unit in ("", "1") else f" {par.unit}"
            lines.append(f"{sym(key)} = {par.value:g}{unit} × " + " × ".join(terms))
    return lines


def structure_equations(m: Model) -> list[str]:
    """The model's differential and algebraic equations as plain-text lines."""
    p = m.parameters
    dose = "dose F·D" + (" at t = tlag" if "tlag" in p else "")
    eqs: list[tuple[str, str]] = []  # (equation, comment); ("", "") is a blank line
    if m.absorption == "first_order":
        eqs.append(("dA_gut/dt = -ka·A_gut", f"{dose} into A_gut"))
        into = "ka·A_gut"
    elif m.absorption == "parallel_zero_first_order":
        lagged = "(1 - fr_zo)·F·D" + (" at t = tlag" if "tlag" in p else "")
        eqs += [("dA_gut/dt = -ka·A_gut", f"{lagged} into A_gut"),
                ("R0 = fr_zo·F·D/tk0", "zero-order input into A1 from the dose to tk0 h after")]
        into = "ka·A_gut + R0"
    elif m.absorption == "transit":
        n = m.n_transit
        eqs += [(f"ktr = ({n} + 1)/MAT", "transit rate"),
                ("dA_0/dt = -ktr·A_0", f"{dose} into A_0")]
        if n:
            eqs.append(("dA_i/dt = ktr·A_(i-1) - ktr·A_i", f"i = 1..{n}"))
        into = f"ktr·A_{n}"
    else:
        eqs.append(("dA_gut/dt = -Vm·A_gut/(Km + A_gut)", f"{dose} into A_gut"))
        into = "Vm·A_gut/(Km + A_gut)"
    if m.disposition == 3:
        eqs += [(f"dA1/dt = {into} - (CL/V1)·A1 - (Q/V1)·A1 + (Q/V2)·A2 - (Q2/V1)·A1 "
                 "+ (Q2/V3)·A3", "central"),
                ("dA2/dt = (Q/V1)·A1 - (Q/V2)·A2", "peripheral"),
                ("dA3/dt = (Q2/V1)·A1 - (Q2/V3)·A3", "second peripheral")]
    elif m.disposition == 2:
        eqs += [(f"dA1/dt = {into} - (CL/V1)·A1 - (Q/V1)·A1 + (Q/V2)·A2", "central"),
                ("dA2/dt = (Q/V1)·A1 - (Q/V2)·A2", "peripheral")]
    else:
        eqs.append((f"dA1/dt = {into} - (CL/V1)·A1", "central"))
    if m.concentration == "plasma":
        eqs.append(("Cp = 1000·A1/V1", "plasma, ng/mL (A in mg, V in L)"))
    else:
        eqs.append(("C = 1000·A1/V1", "whole blood, ng/mL (A in mg, V in L)"))
    if m.clearance == "well_stirred_liver":
        eqs += [
            ("", ""),
            ("QHP = QH·(1 - HCT)", "hepatic plasma flow (HCT as a fraction)"),
            ("EH  = fu·CLint/(QHP + fu·CLint)", "hepatic extraction ratio"),
            ("CL  = QHP·EH", "systemic plasma clearance"),
            ("F   = " + ("(1 - EH)·F_rel" if "f" in p else "1 - EH"),
             "oral bioavailability (hepatic first pass only)"),
        ]
    if m.blood == "langmuir_rbc":
        eqs += [
            ("", ""),
            ("C_rbc = Bmax·Cp/(Kd + Cp) + Kns·Cp", "red cells (Bmax, Kd in ng/mL)"),
            ("C_wb  = HCT·C_rbc + (1 - HCT)·Cp", "whole blood: conc_ng_ml; Cp: plasma_ng_ml"),
        ]
    width = max(len(e) for e, _ in eqs) + 3
    return [f"{e:<{width}}# {c}" if e else "" for e, c in eqs]


def structure_words(m: Model) -> list[str]:
    p = m.parameters
    out = []
    lag = ", after a lag time tlag" if "tlag" in p else ", no lag time"
    if m.absorption == "first_order":
        out.append(f"Absorption: first order from a gut depot, rate constant ka{lag}.")
    elif m.absorption == "parallel_zero_first_order":
        out.append(
            "Absorption: two parallel arms. A fraction fr_zo of the dose enters the central "
            "compartment at a constant rate over tk0 hours from the dose (zero order); the "
            "rest enters a gut depot" + (" after a lag time tlag" if "tlag" in p else "")
            + " and is absorbed first order, rate constant ka.")
    elif m.absorption == "transit":
        out.append(
            f"Absorption: a chain of {m.n_transit} transit compartments between the dosing "
            f"depot and the central compartment, every step at the same rate "
            f"ktr = ({m.n_transit} + 1)/MAT, where MAT is the mean absorption time "
            f"(Savic 2007 convention){lag}.")
    else:
        out.append(
            "Absorption: saturable (Michaelis-Menten) from a gut-lumen compartment that "
            "receives the whole dose. The absorption rate approaches Vm when the gut holds "
            "much more than Km, so Cmax rises less than proportionally and tmax lengthens "
            "at high doses while AUC stays dose-proportional; at small amounts it is first "
            f"order with ka = Vm/Km{lag}.")
    if m.disposition == 3:
        out.append("Disposition: three compartments (central V1; peripheral V2 exchanging "
                   "through Q, peripheral V3 through Q2).")
    elif m.disposition == 2:
        out.append("Disposition: two compartments (central V1, peripheral V2, "
                   "inter-compartmental clearance Q).")
    else:
        out.append("Disposition: one compartment (volume V1).")
    if m.clearance == "direct":
        text = ("Clearance: linear elimination from the central compartment, CL. The data "
                "are oral only, so CL and the volumes and inter-compartmental clearances "
                "are apparent values (divided by the "
                "unknown absolute bioavailability)")
        if "f" in p:
            text += f"; the model's F (typical {p['f'].value:g}) is relative to that reference"
        out.append(text + ".")
    else:
        out.append(
            "Clearance: well-stirred liver. Hepatic plasma flow is QH·(1 - HCT); the "
            "extraction ratio EH follows from the unbound intrinsic clearance fu·CLint; "
            "systemic clearance is the hepatic plasma flow times EH and the oral "
            "bioavailability is the fraction escaping hepatic first pass, F = 1 - EH. "
            "Haematocrit therefore changes both CL and F.")
    if m.blood == "langmuir_rbc":
        out.append(
            "Matrix: the model is fitted in plasma. Whole blood is reconstructed with a "
            "saturable (Langmuir) plus linear red-cell binding equation at instantaneous "
            "equilibrium, so the whole-blood/plasma ratio falls as plasma concentrations "
            "approach Kd: whole-blood Cmax rises less than proportionally with dose while "
            "plasma stays linear.")
    else:
        matrix = "plasma" if m.concentration == "plasma" else "whole blood"
        out.append(f"Matrix: {matrix} (the matrix the source fitted); the output is "
                   "`conc_ng_ml`.")
    return out


# --- derived figures ------------------------------------------------------------------

def typical_subject_text() -> str:
    cov = covariate_table().iloc[0]
    return (f"{cov['sex']}, {cov['weight_kg']:g} kg, {cov['height_cm']:g} cm, "
            f"{cov['age_y']:g} y, HCT {cov['hct_pct']:g} %, AST {cov['ast_iu_l']:g} IU/L, "
            f"prednisolone {cov['prednisolone_mg_day']:g} mg/day, ABCB1 TTT carrier "
            f"{int(cov['abcb1_ttt'])}; fat-free mass {num(cov['ffm_kg'])} kg "
            f"(Janmahasatian), BSA {num(cov['bsa_m2'])} m² (Mosteller)")


def reference_child(m: Model) -> dict[str, float] | None:
    """A paediatric model's own reference covariates (its weight effects' reference, e.g.
    16 kg for Fan 2024), or None for an adult model: the adult typical subject would put it
    far outside its data (70 kg, where its V/F grows past 1,600 L)."""
    from pkdose.children import is_paediatric

    if not is_paediatric(m):
        return None
    return {e.covariate: float(e.reference) for e in m.effects
            if e.reference is not None and e.covariate == "weight_kg"}


def derived(m: Model) -> dict[str, float]:
    """Figures for the typical subject (a paediatric model: its reference child), computed
    with pkdose's own code."""
    cov = covariate_table(reference_child(m) or {})
    p = individual_parameters(m, cov)
    sysm = solver.build_system(p, m.n_chain)
    half = np.log(2.0) / sysm.lam[0]
    out = {"cl": float(p["cl"][0]), "f": float(p["f"][0]), "v1": float(p["v1"][0])}
    if m.disposition >= 2:
        out |= {"q": float(p["q"][0]), "v2": float(p["v2"][0]),
                "t_dist": float(half[0]), "t_term": float(half[-1])}
    else:
        out["t_term"] = float(half[0])
    if m.disposition == 3:
        out |= {"q2": float(p["q2"][0]), "v3": float(p["v3"][0]), "t_mid": float(half[1])}
    for key in ("ka", "ktr", "vm", "km"):
        if key in p:
            out[key] = float(p[key][0])
    if m.blood == "langmuir_rbc":
        hct = float(p["hct"][0])
        # C_wb/Cp as Cp -> 0, where the Langmuir term is linear: Bmax/Kd + Kns in red cells.
        out["bp_low"] = hct * (float(p["bmax_ng_ml"][0]) / float(p["kd_ng_ml"][0])
                               + float(p["kns"][0])) + 1.0 - hct
    return out


def half_life_sentence(m: Model, t_term: float) -> str:
    lab = LABEL_HALF_LIFE.get(m.drug)
    if lab is None:
        return ""
    diff = t_term - lab.hours
    rel = abs(diff) / lab.hours
    if rel < 0.05:
        where = f"within 5 % of the {lab.text}"
    else:
        word = "shorter" if diff < 0 else "longer"
        where = (f"{num(abs(diff))} h ({rel * 100:.0f} %) {word} than the {lab.text} "
                 f"(ratio {t_term / lab.hours:.2f})")
    text = f"The terminal half-life of the typical subject, {num(t_term)} h, is {where}"
    if lab.low is not None and lab.high is not None:
        inside = lab.low <= t_term <= lab.high
        text += f", and {'inside' if inside else 'outside'} {lab.range_text}"
    return text + "."


def derived_section(m: Model) -> list[str]:
    d = derived(m)
    rows: list[list[object]] = []
    if m.clearance == "well_stirred_liver":
        rows += [
            ["Systemic plasma clearance CL = QHP·EH", num(d["cl"]), "L/h"],
            ["Oral bioavailability F = 1 - EH", num(d["f"]), ""],
            ["Apparent oral clearance CL/F (plasma)", num(d["cl"] / d["f"]), "L/h"],
        ]
        if "bp_low" in d:
            rows += [
                ["Whole-blood/plasma ratio at low concentrations", num(d["bp_low"]), ""],
                ["Apparent oral clearance CL/F in whole-blood terms at low concentrations "
                 "(CL/F divided by that ratio)", num(d["cl"] / d["f"] / d["bp_low"]), "L/h"],
            ]
    elif d["f"] != 1.0:
        rows += [["Clearance CL", num(d["cl"]), "L/h"],
                 ["Bioavailability F (relative)", num(d["f"]), ""],
                 ["Apparent clearance CL/F", num(d["cl"] / d["f"]), "L/h"]]
    else:
        rows.append(["Apparent clearance CL/F", num(d["cl"]), "L/h"])
    rows.append(["Central volume V1", num(d["v1"]), "L"])
    if m.disposition >= 2:
        rows += [["Inter-compartmental clearance Q", num(d["q"]), "L/h"],
                 ["Peripheral volume V2", num(d["v2"]), "L"]]
    if m.disposition == 3:
        rows += [["Inter-compartmental clearance Q2", num(d["q2"]), "L/h"],
                 ["Second peripheral volume V3", num(d["v3"]), "L"]]
    # The absorption time scale shows whether the distribution phase is visible at all.
    if "ka" in d:
        rows += [["Absorption rate constant ka", num(d["ka"]), "1/h"],
                 ["Absorption half-life ln2/ka", num(math.log(2) / d["ka"]), "h"]]
    if "ktr" in d:
        rows += [["Transit rate constant ktr", num(d["ktr"]), "1/h"],
                 ["Mean absorption time (n_transit + 1)/ktr", num((m.n_transit + 1) / d["ktr"]),
                  "h"]]
    if "vm" in d:
        rows += [["Vm, Km", f"{num(d['vm'])}, {num(d['km'])}", "mg/h, mg"],
                 ["First-order absorption rate at small gut amounts, Vm/Km",
                  num(d["vm"] / d["km"]), "1/h"],
                 ["Absorption half-life at small gut amounts, ln2·Km/Vm",
                  num(math.log(2) * d["km"] / d["vm"]), "h"]]
    if "t_dist" in d:
        rows.append(["Distribution half-life ln2/λ1", num(d["t_dist"]), "h"])
    if "t_mid" in d:
        rows.append(["Intermediate half-life ln2/λ2", num(d["t_mid"]), "h"])
    rows.append([f"Terminal half-life ln2/λ{m.disposition}", num(d["t_term"]), "h"])
    child = reference_child(m)
    who = ("the model's reference child (" + ", ".join(f"{k} {v:g}" for k, v in child.items())
           + "; the adult typical subject lies outside its data)" if child
           else "the [typical subject](#typical-subject)")
    lines = [
        f"For {who}, computed by `individual_parameters` "
        "and `solver.build_system` (λ are the disposition eigenvalues; half-lives of the "
        "phases after absorption is complete).",
        "",
        *table(["Quantity", "Value", "Unit"], rows),
        "",
    ]
    sentence = half_life_sentence(m, d["t_term"])
    if sentence:
        lines += [sentence, ""]
    if m.concentration == "plasma" and m.blood == "langmuir_rbc":
        lines += ["The half-lives are those of plasma; whole blood has the same terminal "
                  "half-life because red-cell binding is linear at the low concentrations "
                  "of the terminal phase.", ""]
    return lines


# --- model card -----------------------------------------------------------------------

def _raw(m: Model) -> dict:
    """The model's TOML as parsed, for the free-text keys the Model object drops."""
    path = resources.files("pkdose.models").joinpath(Path(m.path).name)
    with path.open("rb") as fh:
        return tomllib.load(fh)


def parameter_section(m: Model) -> list[str]:
    rows = []
    for key, par in m.parameters.items():
        rows.append([f"`{key}`", sym(key), f"{par.value:g}", par.unit or "-",
                     "-" if par.rse_pct is None else f"{par.rse_pct:g}",
                     "fixed" if par.fixed else "", par.label])
    return table(["Key", "Symbol", "Typical value", "Unit", "RSE %", "Fixed", "Description"],
                 rows)


def effects_section(m: Model) -> list[str]:
    if not m.effects:
        return ["None.", ""]
    cov = covariate_table()
    rows = []
    for e in m.effects:
        at = float(e.multiplier(cov[e.covariate].to_numpy(float))[0])
        rows.append([sym(e.parameter), f"`{e.covariate}`", e.form, effect_term(e),
                     num(at, 4), e.label])
    lines = table(["Parameter", "Covariate", "Form", "Factor", "At typical subject",
                   "Source statement"], rows)
    lines += ["", "Typical values with their covariate effects "
              "(`x^[condition]` is x when the condition holds, else 1):", "", "```text",
              *covariate_equations(m), "```", ""]
    return lines


def variability_section(m: Model) -> list[str]:
    rows, corr = [], []
    for level, var in (("IIV", m.iiv), ("IOV", m.iov)):
        mat = var.matrix
        for i, name in enumerate(var.parameters):
            cv = (f"{logit_cv_pct(m.typical(name), mat[i, i]):.1f} (logit-normal)"
                  if name in var.logit else f"{cv_pct(mat[i, i]):.1f}")
            rows.append([level, sym(name), f"{mat[i, i]:g}", cv])
            for j in range(i):
                if mat[i, j]:
                    r = mat[i, j] / math.sqrt(mat[i, i] * mat[j, j])
                    corr.append(f"{level} correlation {sym(var.parameters[j])}-{sym(name)}: "
                                f"{r:.2f}")
    if not rows:
        return ["None.", ""]
    form = ("P_i = P·exp(η + κ), η per subject (IIV), κ per occasion (IOV)" if m.iov.parameters
            else "P_i = P·exp(η), η per subject (IIV)")
    lines = [f"Log-normal: {form}; ω is the log-scale variance and "
             "CV % = 100·sqrt(exp(ω) - 1)."
             + (" Logit-normal for the fractions marked so: P_i = 1/(1 + (1/P - 1)·exp(-η)), "
                "ω the logit-scale variance, CV % of P_i by 80-point Gauss-Hermite "
                "quadrature." if m.iiv.logit or m.iov.logit else ""), "",
             *table(["Level", "Parameter", "ω", "CV %"], rows), ""]
    lines += [*(f"- {c}" for c in corr), ""] if corr else ["No covariances (diagonal ω).", ""]
    return lines


def residual_section(m: Model, raw: Mapping) -> list[str]:
    prop = m.residual.get("proportional")
    add = m.residual.get("additive_ng_ml")
    if prop is None and add is None:
        return ["Not stated.", ""]
    parts = []
    if prop is not None:
        parts.append(f"proportional SD {prop:g} ({num(100 * prop)} %)")
    if add is not None:
        parts.append(f"additive SD {add:g} ng/mL")
    eq = "C_obs = C_pred" + ("·(1 + ε_prop)" if prop is not None else "") + (
        " + ε_add" if add is not None else "")
    text = "; ".join(parts)
    out = f"{text[0].upper()}{text[1:]}: `{eq}`."
    label = raw.get("residual", {}).get("label", "")
    if label:
        out += f" Source: {label}."
    return [out + " pkdose predictions are model predictions without this observation "
            "error.", ""]


def population_section(m: Model) -> list[str]:
    pop = m.population
    rows = []
    for key, name, fmt in (
        ("description", "Population", str),
        ("n_subjects", "Subjects", lambda v: f"{v:g}"),
        ("age_y", "Age", lambda v: span(v, "y")),
        ("weight_kg", "Weight", lambda v: span(v, "kg")),
        ("hct_pct", "Haematocrit", lambda v: span(v, "%")),
        ("female_pct", "Female", lambda v: f"{v:g} %"),
        ("dose_mg", "Doses fitted", lambda v: span(v, "mg per dose")),
        ("dosing", "Dosing", str),
        ("comedication", "Co-medication", str),
        ("assay", "Assay / matrix", str),
    ):
        if key in pop:
            rows.append([name, fmt(pop[key])])
    lines = table(["", ""], rows) if rows else ["Not stated."]
    return [*lines, "", "Doses or covariates (age, weight, haematocrit) outside these ranges "
            "make `simulate` issue an `ExtrapolationWarning`.", ""]


def source_section(m: Model) -> list[str]:
    s = m.source
    lines = [s.get("citation", "")]
    ids = []
    if s.get("doi"):
        ids.append(f"DOI [{s['doi']}](https://doi.org/{s['doi']})")
    if s.get("pmid"):
        ids.append(f"PMID [{s['pmid']}](https://pubmed.ncbi.nlm.nih.gov/{s['pmid']}/)")
    if s.get("pmcid"):
        ids.append(f"{s['pmcid']}")
    if ids:
        lines.append("; ".join(ids) + ".")
    if s.get("tables"):
        lines.append(f"Values from {s['tables']}.")
    if s.get("transcription"):
        lines.append(f"{s['transcription']}.")
    return [" ".join(x for x in lines if x), ""]


def fit_section(m: Model, raw: Mapping) -> list[str]:
    """For a model pkdose fitted itself: what it was fitted to, how, and the uncertainty."""
    fit = raw.get("fit")
    if not fit and not m.uncertainty:
        return []
    lines = ["### Fit and uncertainty", ""]
    if fit:
        lines += [
            f"Fitted by `{fit['script']}` to {len(fit['profiles'])} profiles "
            f"({fit['n_points']} points, {fit['n_cohorts']} cohorts) of {fit['data']}; "
            f"data licence {fit['data_license']}.", "",
            f"- Method: {fit['method']}",
            f"- Formulations: {fit['formulation']}",
            f"- Fixed: {fit['fixed']}. Optimiser: {fit['optimiser']}.",
            f"- Objective at the stored values: {fit['objective']:g}.",
            f"- Uncertainty: {fit['uncertainty']}", "",
        ]
        rows = [[f"`{k}`", f"{v['value']:g}", v["unit"], f"{v['low']:g}-{v['high']:g}",
                 v["label"]] for k, v in fit.get("oral_solution", {}).items()]
        if rows:
            lines += ["Oral solution (fitted, not used unless given with `--param`):", "",
                      *table(["Key", "Value", "Unit", "95 % interval", "Description"], rows),
                      ""]
        lines += [f"Profiles fitted: {', '.join(f'`{p}`' for p in fit['profiles'])}.", ""]
    if m.uncertainty:
        rows = [[f"`{k}`", f"{u['low']:g}-{u['high']:g}", u["basis"]]
                for k, u in m.uncertainty.items()]
        lines += table(["Quantity", "Interval", "Basis"], rows) + [""]
    return lines


def model_card(m: Model) -> list[str]:
    raw = _raw(m)
    default = (f"yes, the default {m.drug} model" if m.default
               else f"no (use `--model {m.name}`)")
    lines = [
        f"## `{m.name}`: {m.title}", "",
        f"- Drug: {m.drug}",
        f"- Default: {default}",
        f"- File: `{m.path}`",
        f"- Output columns: {', '.join(f'`{c}`' for c in m.outputs)}", "",
        " ".join(m.summary.split()), "",
        "### Structure", "",
        *(f"- {w}" for w in structure_words(m)), "",
        "```text", *structure_equations(m), "```", "",
        "### Parameters", "",
        *parameter_section(m), "",
        "### Covariate effects", "",
        *effects_section(m),
        "### Variability", "",
        *variability_section(m),
        "### Residual error", "",
        *residual_section(m, raw),
        "### Population", "",
        *population_section(m),
        "### Source", "",
        *source_section(m),
        *fit_section(m, raw),
        "### Derived figures for the typical subject", "",
        *derived_section(m),
        "### Known discrepancies", "",
    ]
    lines += [f"- {n}" for n in m.notes] if m.notes else ["None recorded."]
    return lines + [""]


# --- page -----------------------------------------------------------------------------

def ordered(models: Mapping[str, Model]) -> list[Model]:
    """By drug, the default first, then by name."""
    return sorted(models.values(), key=lambda m: (m.drug, not m.default, m.name))


def index_section(models: list[Model]) -> list[str]:
    rows = []
    for m in models:
        pop = m.population
        rows.append([f"[`{m.name}`](#{anchor(m)})", m.drug, "yes" if m.default else "",
                     pop.get("description", ""), span(pop.get("dose_mg"), "mg"),
                     short_source(m)])
    return table(["Model", "Drug", "Default", "Population", "Doses fitted", "Source"], rows)


def anchor(m: Model) -> str:
    """GitHub's heading anchor for the model card heading."""
    text = f"{m.name}: {m.title}".lower()
    keep = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return keep.replace(" ", "-")


USAGE = """\
## Choosing a model

Every regimen is simulated with the default model of its drug unless another is named.
`pkdose models` lists the shipped models. On the command line, `--model NAME|FILE` picks a
shipped model by name (`--model golubovic2019`) or loads a model file
(`--model ./my_model.toml`, any path ending in `.toml` or naming an existing file); its
`drug` must match the regimen's. `--param NAME=VALUE` (repeatable) replaces a typical value
before covariate effects are applied, for what-if runs: `--param cl=7.5 --param v2=700`.
NAME is a key of the model's parameter table below (`cl` does not exist in `terheine2018`,
whose clearance comes from `clint`); values must be positive, unknown names are an error
that lists the valid ones. In Python the same is `simulate(regimen, model="golubovic2019",
params={"cl": 7.5})`, `get_model("path/to/model.toml")` or `model.with_params(cl=7.5)`.

## Adding a model

1. Write a TOML file with the schema described at the end of this page, starting from the
   shipped file closest in structure. Enter typical values in the source's units, IIV and
   IOV as log-scale variances (ω = ln(1 + CV²) when the paper gives CV %), covariate
   effects in the source's own functional form, the fitted population and dose range in
   `[population]` (they drive the extrapolation warnings), the citation in `[source]` and
   known disagreements with other data in `[notes]`.
2. Try it without installing it: `pkdose simulate "sirolimus 2 mg daily" --model my.toml`.
3. To ship it, put it in `pkdose/models/` and add a test to `tests/test_model.py` that
   checks its typical values and at least one covariate effect against numbers the
   publication states. Set `default = true` only to replace the drug's default: a test
   requires exactly one default per drug.
4. Run `python scripts/gen_model_docs.py` to regenerate this page; a test fails while it is
   stale.
"""


def schema_section() -> list[str]:
    req = model_module._REQUIRED
    struct_rows = [
        ["absorption", "required", " | ".join(f"`{a}`" for a in ABSORPTION),
         "first order (`ka`); transit chain (`mat`, with `n_transit`); Michaelis-Menten "
         "(`vm`, `km`); parallel zero- and first-order (`fr_zo` of the dose into central "
         "over `tk0` h from the dose, the rest first order at `ka` after `tlag`)"],
        ["n_transit", "0", "whole number ≥ 0", "transit compartments before the central "
         "one (`transit` only); ktr = (n_transit + 1)/MAT"],
        ["disposition", "2", "`1` | `2` | `3`", "number of disposition compartments"],
        ["clearance", "`direct`", " | ".join(f"`{c}`" for c in CLEARANCE),
         "CL given directly, or formed by the well-stirred liver (CL and F from `clint`, "
         "`fu`, `qh` and HCT)"],
        ["blood", "`none`", " | ".join(f"`{b}`" for b in BLOOD),
         "`langmuir_rbc` reconstructs whole blood from plasma with red-cell binding and "
         "needs `concentration = \"plasma\"`"],
        ["routes", "`[\"oral\"]`", "list of routes", "routes the model may simulate; "
         "apparent (CL/F) models must stay oral"],
    ]
    need_rows = [[f"`{k}`", ", ".join(f"`{p}`" for p in v)] for k, v in req.items()]
    need_rows += [[f"`{k}` (optional)", text] for k, text in OPTIONAL_PARAMS.items()]
    form_rows = [
        ["`power`", "reference, exponent", "P·(cov/reference)^exponent"],
        ["`linear_ratio`", "reference, slope", "P·(1 + slope·cov/reference)"],
        ["`indicator`", "op, threshold, factor",
         f"P·factor when `cov op threshold` (op one of {', '.join(INDICATOR_OPS)}), else P"],
    ]
    assert set(EFFECT_FORMS) == {"power", "linear_ratio", "indicator"}, "update the schema"
    subject = default_subject()
    cov_rows = [[f"`{k}`", v, f"{subject[k]}" if k in subject else "derived"]
                for k, v in COVARIATES.items()]
    return [
        "## Model file schema (TOML)", "",
        "A model file has the tables below; the loader (`pkdose.model.model_from_dict`) "
        "checks them and reports errors as `PkdoseError` naming the file. Keys not listed "
        "are ignored, so comments and extra provenance are free.", "",
        "### `[model]`", "",
        *table(["Key", "Required", "Meaning"], [
            ["name", "yes", "unique name, used by `--model NAME`"],
            ["drug", "yes", "canonical drug name, `sirolimus` or `everolimus`"],
            ["title", "no", "one line: author year, structure"],
            ["default", "no (false)", "the drug's default model; exactly one per drug"],
            ["concentration", "no (`whole_blood`)",
             "matrix of the central compartment: `whole_blood` or `plasma`"],
            ["summary", "no", "a paragraph: population, what the model is good for"],
        ]), "",
        "### `[structure]`", "",
        *table(["Key", "Default", "Allowed values", "Meaning"], struct_rows), "",
        "### `[parameters]`", "",
        "One inline table per parameter: `key = { value = 12.9, unit = \"L/h\", "
        "rse_pct = 16.3, fixed = false, label = \"...\" }`. `value` (positive) and `unit` "
        "are required; `rse_pct`, `fixed` and `label` document the estimate. Typical "
        "values are those of the source's reference individual, before covariate effects. "
        "Parameters each structure needs:", "",
        *table(["Structure value", "Parameters"], need_rows), "",
        "### `[[covariate_effects]]`", "",
        "An array of tables, applied in order as multiplicative factors on the typical "
        "value (before random effects). Keys: `parameter` (a key of `[parameters]`), "
        "`covariate` (below), `form`, the keys of the form, and `label` (the source's "
        "statement).", "",
        *table(["Form", "Keys", "Parameter becomes"], form_rows), "",
        "Covariates (the subject table; defaults are the typical subject of "
        "`pkdose/data/subject.toml`, fat-free mass and BSA are derived from weight, "
        "height and sex unless given):", "",
        *table(["Covariate", "Meaning", "Default"], cov_rows), "",
        "### `[iiv]` and `[iov]`", "",
        "`parameters = [...]` (keys of `[parameters]`) and `omega = [[...], ...]`, a "
        "square, symmetric, positive semi-definite matrix of log-scale variances and "
        "covariances in that order: P_i = P·exp(η), η ~ N(0, ω). Fractions of the dose "
        "listed in `logit = [...]` (`fr_zo`) are logit-normal instead: "
        "P_i = 1/(1 + (1/P - 1)·exp(-η)). Both tables are optional.",
        "",
        "### `[residual]`", "",
        "`proportional` (SD as a fraction), `additive_ng_ml` (SD in ng/mL) and `label` "
        "(the source's error model in words). Documentation of the source fit.", "",
        "### `[source]`, `[population]`, `[notes]`", "",
        "`[source]`: `citation`, `doi`, `pmid`, `pmcid`, `tables` (where the values are "
        "printed), `transcription` (how they were checked). `[population]`: "
        "`description`, `n_subjects`, `female_pct`, `dosing`, `comedication`, `assay` "
        "and the ranges `age_y`, `weight_kg`, `hct_pct`, `dose_mg` as `[low, high]`; "
        "doses and covariates outside the ranges raise extrapolation warnings. "
        "`[notes]`: `discrepancies = [\"...\"]`, known disagreements with other data.", "",
    ]


def typical_section(models: list[Model]) -> list[str]:
    """The typical subject and, per model, the half-lives next to the label's."""
    rows = []
    for m in models:
        d = derived(m)
        lab = LABEL_HALF_LIFE.get(m.drug)
        clf = d["cl"] / d["f"]
        child = reference_child(m)
        name = f"`{m.name}`" + (" (child, " + ", ".join(f"{v:g} kg" for v in child.values())
                                + ")" if child else "")
        rows.append([name, m.drug, num(clf),
                     num(d["t_dist"]) if "t_dist" in d else "-", num(d["t_term"]),
                     f"{lab.hours:g}" if lab else "-",
                     f"{d['t_term'] / lab.hours:.2f}" if lab else "-"])
    return [
        "## Typical subject", "",
        "Unless covariates are given, every model is evaluated for the same subject "
        f"(`pkdose/data/subject.toml`): {typical_subject_text()}. Each model applies its "
        "own covariate effects to these values, so comparisons are like-for-like; a "
        "paediatric model, which refuses adults, at its own reference child.", "",
        *table(["Model", "Drug", "CL/F (L/h)", "Distribution t½ (h)", "Terminal t½ (h)",
                "Label t½ (h)", "Terminal / label"], rows), "",
        "CL/F is the apparent oral clearance in the model's own matrix (plasma for "
        "`terheine2018`). Label half-lives and their sources are listed "
        "[below](#label-half-lives-used-for-comparison).", "",
    ]


def render() -> str:
    """The whole of docs/models.md."""
    models = ordered(builtin_models())
    lines = [
        "# Drug models", "",
        "<!-- Generated by scripts/gen_model_docs.py from pkdose/models/*.toml; do not "
        "edit by hand. -->", "",
        "pkdose predicts concentrations with population PK models published for sirolimus "
        "(rapamycin) and everolimus, each stored as a cited TOML data file in "
        "`pkdose/models/`. The derived figures in each model card are computed by "
        "pkdose's own code for its typical subject when this page is generated.", "",
        *index_section(models), "",
        USAGE,
        *typical_section(models),
        *(line for m in models for line in model_card(m)),
        "## Label half-lives used for comparison", "",
        *(f"- {drug}: {lab.source}" for drug, lab in sorted(LABEL_HALF_LIFE.items())), "",
        *schema_section(),
    ]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


def is_current(path: Path = DOC) -> bool:
    """True when ``path`` holds exactly what :func:`render` generates."""
    return path.is_file() and path.read_text(encoding="utf-8") == render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the page is stale instead of writing it")
    parser.add_argument("--output", type=Path, default=DOC, help="page to write or check")
    args = parser.parse_args(argv)
    return sync_doc(args.output, render(), args.check, "scripts/gen_model_docs.py")


if __name__ == "__main__":
    sys.exit(main())
