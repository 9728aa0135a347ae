"""Fit the animal rapamycin PK models to the cited blood levels and write the model files.

Run from the repository root:  python scripts/fit_species_pk.py [--write | --check]

Reads pkdose/data/species_observations.toml (blood levels, half-life scaling references) and
pkdose/data/food_intake.toml (diet intake design, spillage, feeding pattern), fits what each
data set can identify, prints the fit, the residual of every observation and the range of each
parameter the data cannot pin, and renders one model file per species into MODEL_DIR. With
--write the files are (re)written; with --check the script exits 1 if a file differs from what
it would write. Without either it only prints.

What each fit rests on (details in the printed report and in each model's [source] and
[uncertainty] tables):

* mouse (diet, i.p., s.c.): one whole-blood level, "about 4 ng/ml" on the 14 ppm eRapa diet
  designed to deliver 2.24 mg/kg/day (Livi 2013). Steady state gives CL/F_diet = input rate /
  Css and nothing else. Terminal half-life, ka and the i.p./diet and s.c./diet bioavailability
  ratios are not identifiable (no mouse i.p. or s.c. blood level is in the stored sources):
  they are carried as ranges, the model value being the geometric middle.
* dog (oral): Larson 2016 single 0.1 mg/kg dose, Cmax, AUC0-48 and terminal half-life (three
  numbers). One compartment cannot reproduce them; two compartments can, with the shape ratios
  Q/CL and V2/V1 borrowed from the human model (Wu 2012) so that three numbers fit three
  parameters (ka, V1, CL). The five-day rows are residual checks.
* marmoset (oral): Tardif 2015 mean trough 5.2 ng/mL at about 1 mg/kg/day; one compartment,
  CL/F solved for the trough at a half-life bracketed from the dog and human half-lives.

Only numpy and scipy; every concentration is an exact closed form or an exact
matrix-exponential step (linear PK with piecewise-constant input).
"""

from __future__ import annotations

import json
import math
import sys
import tomllib
from pathlib import Path

import numpy as np
from scipy.linalg import expm
from scipy.optimize import brentq, least_squares

ROOT = Path(__file__).resolve().parents[1]
OBSERVATIONS = ROOT / "pkdose" / "data" / "species_observations.toml"
FOOD = ROOT / "pkdose" / "data" / "food_intake.toml"
HUMAN_SHAPE = ROOT / "pkdose" / "models" / "wu2012_sirolimus.toml"
# Species models live one level down until the model registry knows about species (a second
# sirolimus default in pkdose/models/ would change get_model(drug="sirolimus")).
MODEL_DIR = ROOT / "pkdose" / "models" / "species"
SCRIPT = "scripts/fit_species_pk.py"
LN2 = math.log(2.0)

# Ranges that no stored source pins; stated here once, used by the fits and written into the
# [uncertainty] tables with the same words.
KA_ORAL_RANGE = (0.1, 3.0)
KA_ORAL_BASIS = ("Not identifiable from steady-state or trough data. Range 0.1-3 /h is an "
                 "assumption spanning slow (enteric-coated) to fast oral absorption; the value "
                 "is the dog ka fitted in dog_oral (Larson 2016 single dose).")
KA_IP_RANGE = (0.5, 10.0)
KA_IP_BASIS = ("No mouse i.p. time course in the stored sources (Arriola Apelo 2016 blood "
               "levels not retrievable). Range 0.5-10 /h is an assumption (absorption from the "
               "peritoneal cavity faster than oral); value = geometric middle.")
F_IP_BASIS = ("f_ip = F_ip / F_diet, not measured. Lower end 1 assumes i.p. is at least as "
              "available as eRapa chow; upper end 25 = 1 / 0.04, taking F_ip <= 1 and F_diet >= "
              "the 4 % oral F of plain rapamycin in rats (Napoli 1997; eRapa improves oral "
              "bioavailability over plain drug, NCI Drug Dictionary). Value = geometric middle.")
# s.c.: no mouse s.c. blood level or time course in the stored sources ([[gap]] mouse-sc of
# the observations file); bracketed from the cited facts behind the oral and i.p. ranges.
F_INJ_RANGE = (1.0, 25.0)  # F_injected / F_diet: at least 1 (assumption) .. 1 / 0.04 (Napoli)
KA_SC_RANGE = (KA_ORAL_RANGE[0], KA_IP_RANGE[1])
KA_SC_BASIS = ("No mouse s.c. time course in the stored sources ([[gap]] mouse-sc; the stored "
               "copy of Anisimov 2011 gives no blood level). Range 0.1-10 /h is an "
               "assumption spanning the slowest oral absorption carried here (ka_diet low end) "
               "to the fastest i.p. absorption (ka_ip high end): no stored source says whether "
               "s.c. rapamycin is absorbed slower or faster than oral or i.p. rapamycin. Value "
               "= geometric middle. The cycle-average level (Cavg) does not depend on it; peaks "
               "and troughs do.")
F_SC_BASIS = ("f_sc = F_sc / F_diet, not measured ([[gap]] mouse-sc). Bracketed as f_ip: "
              "upper end 25 = 1 / 0.04, taking F_sc <= 1 and F_diet >= the 4 % oral F of plain "
              "rapamycin in rats (Napoli 1997). Lower end 1 is an assumption: oral sirolimus "
              "is poorly available (about 14 % for the human oral solution; a CYP3A4/5 and "
              "P-gp substrate; finding sirolimus-oral-availability) and an s.c. dose does not "
              "pass the gut wall or the liver before reaching the blood, so s.c. is taken to be "
              "at least as available as eRapa chow. Loss at the injection site is not "
              "documented either way (the s.c. vehicle of Anisimov 2011 is not in the stored "
              "copy). No stored source compares s.c. with i.p., so f_sc carries the same range "
              "and value (geometric middle) as f_ip.")
# Anisimov 2011 s.c. regimen as pkdose reads "1.5 mg/kg sc 3 times weekly, 2 weeks per month":
# Mon/Wed/Fri doses (h from Monday 0:00) for two weeks of each 730.5 h (365.25 d / 12) month.
SC_REGIMEN = (1.5, (0.0, 48.0, 96.0, 168.0, 216.0, 264.0), 730.5)
SPILL_RANGE = (0.64, 1.0)  # ingested / designed intake: 1 - 36 % (old C57BL/6) .. 1


def load() -> tuple[dict, dict, dict]:
    """Parse the observation, food-intake and human-model TOML files."""
    with open(OBSERVATIONS, "rb") as fh:
        obs = tomllib.load(fh)
    with open(FOOD, "rb") as fh:
        food = tomllib.load(fh)
    with open(HUMAN_SHAPE, "rb") as fh:
        human = tomllib.load(fh)
    return obs, food, human


def observation(obs: dict, key: str) -> dict:
    """The [[observation]] row with id ``key``."""
    for row in obs["observation"]:
        if row["id"] == key:
            return row
    raise KeyError(key)


def geomean(lo: float, hi: float) -> float:
    """Geometric middle of a positive range."""
    return math.sqrt(lo * hi)


# ------------------------------------------------------------------------------ PK kernels

def one_cpt_oral(t: np.ndarray, dose_times: list[float], dose: float, ka: float, v: float,
                 cl: float) -> np.ndarray:
    """Concentration (dose units / volume units) for first-order absorption, one compartment."""
    ke = cl / v
    out = np.zeros_like(t, dtype=float)
    for td in dose_times:
        tt = t - td
        m = tt >= 0
        out[m] += dose * ka / (v * (ka - ke)) * (np.exp(-ke * tt[m]) - np.exp(-ka * tt[m]))
    return out


def two_cpt_oral(t: np.ndarray, dose_times: list[float], dose: float, ka: float, v1: float,
                 q: float, v2: float, cl: float) -> np.ndarray:
    """Concentration for first-order absorption into a two-compartment model (tri-exponential)."""
    k10, k12, k21 = cl / v1, q / v1, q / v2
    s = k10 + k12 + k21
    root = math.sqrt(s * s - 4.0 * k10 * k21)
    a, b = (s + root) / 2.0, (s - root) / 2.0
    ca = ka / v1 * (k21 - a) / ((ka - a) * (b - a))
    cb = ka / v1 * (k21 - b) / ((ka - b) * (a - b))
    cka = ka / v1 * (k21 - ka) / ((a - ka) * (b - ka))
    out = np.zeros_like(t, dtype=float)
    for td in dose_times:
        tt = t - td
        m = tt >= 0
        out[m] += dose * (ca * np.exp(-a * tt[m]) + cb * np.exp(-b * tt[m])
                          + cka * np.exp(-ka * tt[m]))
    return out


def terminal_rate(v1: float, q: float, v2: float, cl: float) -> float:
    """Slowest disposition eigenvalue (beta) of the two-compartment model."""
    k10, k12, k21 = cl / v1, q / v1, q / v2
    s = k10 + k12 + k21
    return (s - math.sqrt(s * s - 4.0 * k10 * k21)) / 2.0


def diet_day_profile(rate_per_day: float, dark_fraction: float, ka: float, v: float,
                     cl: float, step_h: float = 0.25) -> np.ndarray:
    """Steady-state 24-h concentration profile for a diet eaten at two constant rates.

    ``dark_fraction`` of the daily amount enters the gut evenly over the 12 dark hours, the
    rest over the 12 light hours; gut -> central first order (ka), one compartment. Each step
    is an exact matrix-exponential update for constant input, and the periodic steady state is
    solved directly from the one-day map, so only the step grid limits the returned
    resolution. Returns concentrations at 0, step, ..., 24 h (dark phase first).
    """
    n = int(round(24.0 / step_h))
    aug = np.zeros((3, 3))
    aug[:2, :2] = [[-ka, 0.0], [ka, -cl / v]]
    aug[0, 2] = 1.0
    e = expm(aug * step_h)
    phi = e[:2, :2]
    steps = [e[:2, 2] * rate_per_day * (dark_fraction if i * step_h < 12.0
                                         else 1.0 - dark_fraction) / 12.0 for i in range(n)]
    # x(24) = Phi_day x(0) + g_day; steady state x(0) = (I - Phi_day)^-1 g_day.
    phi_day, g_day = np.eye(2), np.zeros(2)
    for gamma in steps:
        phi_day, g_day = phi @ phi_day, phi @ g_day + gamma
    x = np.linalg.solve(np.eye(2) - phi_day, g_day)
    profile = np.empty(n + 1)
    profile[0] = x[1] / v
    for i, gamma in enumerate(steps):
        x = phi @ x + gamma
        profile[i + 1] = x[1] / v
    return profile


# ---------------------------------------------------------------------------- half-lives

def half_life_bracket(obs: dict, target_kg: float) -> dict[str, float]:
    """Terminal half-lives scaled to ``target_kg`` from the dog and human references.

    t1/2 is proportional to weight**(v_exponent - cl_exponent) when CL ~ W**cl_exponent and
    V ~ W**v_exponent ([scaling] of the observations file).
    """
    sc = obs["scaling"]
    power = sc["v_exponent"] - sc["cl_exponent"]
    dog_w = sc["dog"]["weight_kg"]
    refs = {
        "human (Brattstrom 2000)": (sc["human"]["t_half_h"], sc["human"]["weight_kg"]),
        "dog single dose (Larson 2016)": (observation(obs, "larson2016-single-thalf")["value"],
                                          dog_w),
        "dog five doses (Larson 2016)": (observation(obs, "larson2016-multi-thalf")["value"],
                                         dog_w),
    }
    return {k: th * (target_kg / w) ** power for k, (th, w) in refs.items()}


# ----------------------------------------------------------------------------------- dog

def fit_dog(obs: dict, human: dict) -> dict:
    """Two-compartment fit to Larson 2016 single-dose Cmax, AUC0-48 and t1/2 (per kg)."""
    hp = human["parameters"]
    q_ratio = hp["q"]["value"] / hp["cl"]["value"]
    v_ratio = hp["v2"]["value"] / hp["v1"]["value"]
    targets = {m: observation(obs, f"larson2016-single-{m}") for m in ("cmax", "auc48", "thalf")}
    dose = targets["cmax"]["dose"]  # mg/kg
    t = np.linspace(0.0, 72.0, 14401)

    def stats(ka, v1, cl, qr=q_ratio, vr=v_ratio, times=(0.0,), t0=0.0):
        q, v2 = qr * cl, vr * v1
        grid = t0 + t
        c = two_cpt_oral(grid, list(times), dose, ka, v1, q, v2, cl) * 1000.0  # ng/mL
        w = grid <= t0 + 48.0
        return {"cmax": float(c.max()), "auc48": float(np.trapezoid(c[w], grid[w])),
                "thalf": LN2 / terminal_rate(v1, q, v2, cl)}

    def solve(goal, qr=q_ratio, vr=v_ratio):
        def res(x):
            s = stats(*np.exp(x), qr=qr, vr=vr)
            return [math.log(s[k] / goal[k]) for k in ("cmax", "auc48", "thalf")]
        r = least_squares(res, np.log([0.5, 2.0, 0.5]), xtol=1e-12, ftol=1e-12)
        return np.exp(r.x)

    goal = {k: targets[k]["value"] for k in targets}
    ka, v1, cl = solve(goal)
    fit = {"ka": ka, "v1": v1, "cl": cl, "q": q_ratio * cl, "v2": v_ratio * v1,
           "q_ratio": q_ratio, "v_ratio": v_ratio, "dose": dose}
    fit["single"] = stats(ka, v1, cl)
    fit["multi"] = stats(ka, v1, cl, times=(0.0, 24.0, 48.0, 72.0, 96.0), t0=96.0)
    # Ranges: each single-dose statistic at mean +/- 1 SD (one at a time) and the borrowed
    # shape ratios halved and doubled.
    samples = []
    for k in goal:
        for sign in (-1.0, 1.0):
            g = dict(goal)
            g[k] = goal[k] + sign * targets[k]["sd"]
            samples.append((g, q_ratio, v_ratio))
    for qr in (q_ratio / 2.0, q_ratio * 2.0):
        for vr in (v_ratio / 2.0, v_ratio * 2.0):
            samples.append((goal, qr, vr))
    rng = {k: [fit[k], fit[k]] for k in ("ka", "v1", "cl", "q", "v2")}
    for g, qr, vr in samples:
        ka_s, v1_s, cl_s = solve(g, qr, vr)
        vals = {"ka": ka_s, "v1": v1_s, "cl": cl_s, "q": qr * cl_s, "v2": vr * v1_s}
        for k, val in vals.items():
            rng[k][0] = min(rng[k][0], val)
            rng[k][1] = max(rng[k][1], val)
    fit["range"] = rng
    return fit


# --------------------------------------------------------------------------------- mouse

def fit_mouse(obs: dict, food: dict, ka_oral: float) -> dict:
    """CL/F_diet from the 14 ppm steady state; half-life, ka and f_ip carried as ranges."""
    row = observation(obs, "livi2013-diet-14ppm")
    w = obs["scaling"]["mouse"]["weight_kg"]
    pattern = food["feeding_pattern"]["mouse"]
    rate_mg_h = row["dose_mg_kg_day"] * w / 24.0
    css_mg_l = row["value"] / 1000.0
    cl = rate_mg_h / css_mg_l
    # "about 4" read as 3.5-4.5 ng/mL; ingested fraction of the design intake 0.64-1 (spillage).
    cl_lo = rate_mg_h * SPILL_RANGE[0] / 0.0045
    cl_hi = rate_mg_h * SPILL_RANGE[1] / 0.0035
    brackets = half_life_bracket(obs, w)
    th_lo, th_hi = min(brackets.values()), max(brackets.values())
    th = geomean(th_lo, th_hi)
    v = cl * th / LN2
    fit = {"weight_kg": w, "cl": cl, "cl_range": (cl_lo, cl_hi), "t_half": th,
           "t_half_range": (th_lo, th_hi), "t_half_brackets": brackets, "v": v,
           "v_range": (cl_lo * th_lo / LN2, cl_hi * th_hi / LN2), "ka": ka_oral,
           "ka_ip": geomean(*KA_IP_RANGE), "f_ip": geomean(*F_INJ_RANGE),
           "ka_sc": geomean(*KA_SC_RANGE), "f_sc": geomean(*F_INJ_RANGE),
           "dose_mg_kg_day": row["dose_mg_kg_day"], "ppm": row["dose"],
           "dark_fraction": pattern["dark_fraction_default"],
           "dark_fraction_range": tuple(pattern["dark_fraction_range"])}
    # The within-day swing the unknown half-life and ka allow (sampling time not reported).
    daily_mg = row["dose_mg_kg_day"] * w
    swings = []
    for th_s in (th_lo, th, th_hi):
        for ka_s in KA_ORAL_RANGE:
            for d in fit["dark_fraction_range"]:
                prof = diet_day_profile(daily_mg, d, ka_s, cl * th_s / LN2, cl) * 1000.0
                swings.append((th_s, ka_s, d, float(prof.min()), float(prof.max()),
                               float(prof[:-1].mean())))
    fit["swings"] = swings
    fit["profile_default"] = diet_day_profile(daily_mg, fit["dark_fraction"], ka_oral, v,
                                              cl) * 1000.0
    # i.p. 2 mg/kg every 5 days (Arriola Apelo 2016): steady-state peak and trough across the
    # uncertainty box, to show what the missing data leave open.
    t = np.linspace(0.0, 120.0, 4801)
    doses = [-120.0 * k for k in range(40)]
    box = []
    for f_ip in (F_INJ_RANGE[0], fit["f_ip"], F_INJ_RANGE[1]):
        for ka_s in (KA_IP_RANGE[0], fit["ka_ip"], KA_IP_RANGE[1]):
            for th_s in (th_lo, th, th_hi):
                c = one_cpt_oral(t, doses, 2.0 * w * f_ip, ka_s, cl * th_s / LN2, cl) * 1000.0
                box.append((f_ip, ka_s, th_s, float(c.max()), float(c[-1])))
    fit["ip_box"] = box
    # s.c. 1.5 mg/kg Mon/Wed/Fri, 2 weeks per month (Anisimov 2011): cycle steady state
    # (Cavg over the month, peak, trough) across the same kind of box.
    dose_kg, times, cycle = SC_REGIMEN
    t = np.linspace(0.0, cycle, 14611)
    doses = [td - cycle * k for k in range(10) for td in times]
    box = []
    for f_sc in (F_INJ_RANGE[0], fit["f_sc"], F_INJ_RANGE[1]):
        for ka_s in (KA_SC_RANGE[0], fit["ka_sc"], KA_SC_RANGE[1]):
            for th_s in (th_lo, th, th_hi):
                c = one_cpt_oral(t, doses, dose_kg * w * f_sc, ka_s, cl * th_s / LN2, cl) * 1000.0
                box.append((f_sc, ka_s, th_s, float(np.trapezoid(c, t) / cycle),
                            float(c.max()), float(c.min())))
    fit["sc_box"] = box
    return fit


# ------------------------------------------------------------------------------ marmoset

def fit_marmoset(obs: dict, ka_oral: float) -> dict:
    """One-compartment CL/F for the Tardif 2015 mean trough at a bracketed half-life."""
    row = observation(obs, "tardif2015-trough")
    w = obs["scaling"]["marmoset"]["weight_kg"]
    dose = row["dose_mg_kg_day"] * w
    brackets = half_life_bracket(obs, w)
    th_lo, th_hi = min(brackets.values()), max(brackets.values())

    def trough(cl, th, ka):
        v = cl * th / LN2
        ke = cl / v
        # Steady-state concentration 24 h after a dose, once daily (closed form).
        acc_e = math.exp(-ke * 24.0) / (1.0 - math.exp(-ke * 24.0))
        acc_a = math.exp(-ka * 24.0) / (1.0 - math.exp(-ka * 24.0))
        return dose * ka / (v * (ka - ke)) * (acc_e - acc_a)

    def solve(target_ng_ml, th, ka):
        return brentq(lambda cl: trough(cl, th, ka) * 1000.0 - target_ng_ml, 1e-4, 1e3)

    th = geomean(th_lo, th_hi)
    cl = solve(row["value"], th, ka_oral)
    profile = {}
    for th_s in (th_lo, th, th_hi):
        for ka_s in KA_ORAL_RANGE:
            profile[(th_s, ka_s)] = solve(row["value"], th_s, ka_s)
    lo_obs, hi_obs = row["range"]
    return {"weight_kg": w, "cl": cl, "t_half": th, "t_half_range": (th_lo, th_hi),
            "t_half_brackets": brackets, "v": cl * th / LN2, "ka": ka_oral,
            "cl_range": (min(profile.values()), max(profile.values())), "profile": profile,
            "v_range": (min(c * t_ / LN2 for (t_, _), c in profile.items()),
                        max(c * t_ / LN2 for (t_, _), c in profile.items())),
            "cl_population": (solve(hi_obs, th, ka_oral), solve(lo_obs, th, ka_oral)),
            "trough_check": trough(cl, th, ka_oral) * 1000.0,
            "dose_mg_kg_day": row["dose_mg_kg_day"]}


# ---------------------------------------------------------------------------- rendering

def num(x: float) -> float:
    """Four significant digits (what the model files store)."""
    return float(f"{x:.4g}")


def toml_value(v: object) -> str:
    """One TOML value: scalars, flat lists and inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(num(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def dump(title: str, doc: dict) -> str:
    """A model file: a comment header, then tables and arrays of tables in ``doc`` order."""
    out = [f"# {title}",
           f"# Written by {SCRIPT} from pkdose/data/species_observations.toml and",
           "# pkdose/data/food_intake.toml; do not edit by hand."]
    for section, body in doc.items():
        rows = body if isinstance(body, list) else [body]
        for row in rows:
            out += ["", f"[[{section}]]" if isinstance(body, list) else f"[{section}]"]
            for key, value in row.items():
                if isinstance(value, list) and value and all(isinstance(x, str) for x in value) \
                        and sum(len(x) for x in value) > 80:
                    out.append(f"{key} = [")
                    out += [f"  {toml_value(x)}," for x in value]
                    out.append("]")
                else:
                    out.append(f"{key} = {toml_value(value)}")
    return "\n".join(out) + "\n"


def param(value: float, unit: str, label: str) -> dict:
    return {"value": value, "unit": unit, "label": label}


def span(lo: float, hi: float, basis: str) -> dict:
    return {"low": lo, "high": hi, "basis": basis}


def power(parameter: str, reference: float, exponent: float) -> dict:
    label = ("allometry on clearance (Hu and Hayton 2001: 0.74; metabolised drugs ~0.75)"
             if exponent != 1.0 else "volume proportional to body weight (assumption)")
    return {"parameter": parameter, "covariate": "weight_kg", "form": "power",
            "reference": reference, "exponent": exponent, "label": label}


def render_mouse(m: dict) -> str:
    w = m["weight_kg"]
    th_lo, th_hi = m["t_half_range"]
    doc = {
        "model": {
            "name": "mouse_diet", "drug": "sirolimus", "species": "mouse",
            "strain": "Rb1+/- and +/+ mice on the ITP eRapa diet (Livi 2013); ITP design strain "
                      "UM-HET3",
            "sex": "both", "reference_weight_kg": w, "default": True,
            "title": "Mouse: one compartment, CL/F from the 14 ppm eRapa steady state (Livi "
                     "2013); half-life, ka and i.p. and s.c. F carried as ranges",
            "concentration": "whole_blood",
            "summary": "Whole-blood rapamycin in mice on encapsulated-rapamycin chow. Apparent "
                       "clearance is referenced to the diet route (CL = CL/F_diet) and rests on "
                       "one published level: about 4 ng/mL at 14 ppm, designed as 2.24 "
                       "mg/kg/day. The daily-average level on the diet is pinned by that number; "
                       "within-day swings and all i.p. and s.c. levels are not (see "
                       "[uncertainty]).",
        },
        "source": {
            "citation": "Livi CB, et al. Rapamycin extends life span of Rb1+/- mice by "
                        "inhibiting neuroendocrine tumors. Aging (Albany NY) 2013;5(2):100-110 "
                        "(Figure 1 legend).",
            "doi": "10.18632/aging.100533",
            "fit": SCRIPT,
            "data": ["livi2013-diet-14ppm"],
            "intake": "pkdose/data/food_intake.toml [[intake]] itp-design-14ppm "
                      "(0.16 g food per g body weight per day)",
        },
        "population": {
            "description": "Adult laboratory mice fed eRapa chow at 14 ppm; sex, age and time "
                           "of sampling not reported with the blood level",
            "strain": "Rb1+/- and Rb1+/+ (Livi 2013)", "sex": "both",
            "weight_kg": [0.0114, 0.0393],
            "weight_note": "strain means of 40 inbred strains at ~16 weeks (Reed 2007)",
            "diet_ppm": [14.0, 14.0], "dose_mg_kg_day": [2.24, 2.24],
            "ip_data": "none: no mouse i.p. blood level in the stored sources",
            "sc_data": "none: no mouse s.c. blood level in the stored sources",
            "n": "not reported",
        },
        "structure": {
            "absorption": "first_order", "disposition": 1, "clearance": "direct",
            "blood": "none", "routes": ["diet", "ip", "sc"],
            "clearance_reference_route": "diet",
            "diet_input": "zero-order gut input from food (ppm x intake); dark_fraction of it "
                          "over the 12 dark hours, the rest over the 12 light hours "
                          "(pkdose/data/food_intake.toml [feeding_pattern.mouse]); then "
                          "first-order absorption ka_diet",
        },
        "parameters": {
            "cl": param(m["cl"], "L/h", f"apparent clearance CL/F_diet at {w * 1000:.0f} g "
                        f"({m['cl'] / w:.3g} L/h/kg) = 2.24 mg/kg/day / 24 h / 4 ng/mL"),
            "v1": param(m["v"], "L", "apparent volume V/F_diet = CL/F x t1/2 / ln 2 at the "
                        f"bracketed half-life {m['t_half']:.3g} h (not pinned)"),
            "ka": param(m["ka"], "1/h", "first-order absorption from the gut; not pinned"),
            "ka_diet": param(m["ka"], "1/h", "as ka; not pinned"),
            "ka_ip": param(m["ka_ip"], "1/h", "absorption from the peritoneal cavity; not "
                           "pinned"),
            "f_ip": param(m["f_ip"], "1", "i.p. bioavailability relative to eRapa diet "
                          "(F_ip / F_diet); not pinned"),
            "ka_sc": param(m["ka_sc"], "1/h", "absorption from the s.c. injection site; not "
                           "pinned"),
            "f_sc": param(m["f_sc"], "1", "s.c. bioavailability relative to eRapa diet "
                          "(F_sc / F_diet); not pinned"),
        },
        "covariate_effects": [power("cl", w, 0.75), power("v1", w, 1.0)],
        "uncertainty": {
            "cl": span(*m["cl_range"], "Css 'about 4 ng/mL' read as 3.5-4.5 ng/mL; ingested "
                       "dose 64-100 % of the 2.24 mg/kg/day design (food spillage up to 36 % in "
                       "old C57BL/6, Starr 2012). Sex not included: females higher (Miller "
                       "2014) but not quantified in the stored sources."),
            "v1": span(*m["v_range"], "CL range x terminal half-life range / ln 2"),
            "t_half_h": span(th_lo, th_hi, "dog (Larson 2016: 38.7 h after one dose, 99.5 h "
                             "after five) and human (Brattstrom 2000: 82 h) half-lives scaled "
                             "to 30 g with t1/2 ~ W^0.25; no mouse half-life in the stored "
                             "sources"),
            "ka": span(*KA_ORAL_RANGE, KA_ORAL_BASIS),
            "ka_diet": span(*KA_ORAL_RANGE, KA_ORAL_BASIS),
            "ka_ip": span(*KA_IP_RANGE, KA_IP_BASIS),
            "f_ip": span(*F_INJ_RANGE, F_IP_BASIS),
            "ka_sc": span(*KA_SC_RANGE, KA_SC_BASIS),
            "f_sc": span(*F_INJ_RANGE, F_SC_BASIS),
            "dark_fraction": span(*m["dark_fraction_range"], "rats eat 70-90 % of daily intake "
                                  "in the dark phase (Physiol Behav 1980;25:953); no mouse "
                                  "number found"),
        },
        "notes": {"discrepancies": [
            "Only one mouse blood level with a number was found (Livi 2013, about 4 ng/mL at "
            "14 ppm); it pins the daily-average level on the diet and nothing else.",
            "Females have higher blood levels than males at the same ppm, with a steeper dose "
            "dependence (Miller 2014, sex x dose interaction p = 0.03); the model is sex-neutral "
            "and linear, so 42 ppm and any sex-specific prediction are extrapolations.",
            f"i.p. predictions (e.g. 2 mg/kg every 5 days) rest on ranges, not data: f_ip spans "
            f"25-fold and the half-life {th_hi / th_lo:.2g}-fold. Report them as ranges.",
            f"s.c. predictions (e.g. Anisimov 2011, 1.5 mg/kg three times weekly, 2 weeks per "
            f"month) rest on ranges, not data: f_sc spans 25-fold, ka_sc 100-fold and the "
            f"half-life {th_hi / th_lo:.2g}-fold; the cycle-average level scales with f_sc "
            f"(and 1/CL) only. Report them as ranges.",
            "Oral gavage is not modelled: no mouse blood levels after gavage of plain "
            "rapamycin were found.",
        ]},
    }
    return dump("Mouse rapamycin: eRapa diet (fitted), i.p. and s.c. (ranges carried); the "
                "default mouse model.", doc)


def render_dog(d: dict, w: float) -> str:
    r = d["range"]
    basis = ("refits with each single-dose statistic at mean +/- 1 SD (Larson 2016) and with "
             "the borrowed Q/CL and V2/V1 halved and doubled")
    doc = {
        "model": {
            "name": "dog_oral", "drug": "sirolimus", "species": "dog",
            "strain": "purpose-bred hounds (Larson 2016)", "sex": "both",
            "reference_weight_kg": w, "default": True,
            "title": "Dog: two compartments, first-order absorption, fitted to Larson 2016 "
                     "single-dose Cmax, AUC0-48 and t1/2 (human shape ratios)",
            "concentration": "whole_blood",
            "summary": "Whole-blood rapamycin in dogs after oral doses. Three published summary "
                       "numbers (Cmax 8.39 ng/mL, AUC0-48 140 ng*h/mL, t1/2 38.7 h after 0.1 "
                       "mg/kg) fix ka, V1/F and CL/F; the peripheral shape (Q/CL, V2/V1) is "
                       "borrowed from the human model (Wu 2012). CL/F is robust to that choice; "
                       "V1, Q, V2 and ka are not.",
        },
        "source": {
            "citation": "Larson JC, Allstadt SD, Fan TM, et al. Pharmacokinetics of orally "
                        "administered low-dose rapamycin in healthy dogs: a pilot study. Am J "
                        "Vet Res 2016;77(1):65-71 (abstract).",
            "doi": "10.2460/ajvr.77.1.65", "pmid": "26709938", "fit": SCRIPT,
            "data": ["larson2016-single-cmax", "larson2016-single-auc48",
                     "larson2016-single-thalf"],
            "shape": "Q/CL and V2/V1 from pkdose/models/wu2012_sirolimus.toml (Wu 2012, human)",
        },
        "population": {
            "description": "5 healthy purpose-bred hounds, 0.1 mg/kg orally once and once daily "
                           "for 5 days; weights not in the stored abstract",
            "strain": "hound", "sex": "not reported", "weight_kg": [18.0, 36.0],
            "weight_note": "18-36 kg: dogs of Barnett 2023 (0.025 mg/kg three times weekly); "
                           "reference 25 kg",
            "dose_mg_kg": [0.1, 0.1], "n": 5,
        },
        "structure": {
            "absorption": "first_order", "disposition": 2, "clearance": "direct",
            "blood": "none", "routes": ["oral"], "clearance_reference_route": "oral",
        },
        "parameters": {
            "cl": param(d["cl"] * w, "L/h", f"apparent clearance CL/F ({d['cl']:.3g} L/h/kg)"),
            "v1": param(d["v1"] * w, "L", f"apparent central volume V1/F ({d['v1']:.3g} L/kg)"),
            "q": param(d["q"] * w, "L/h", f"Q/F = {d['q_ratio']:.3g} x CL/F (human ratio)"),
            "v2": param(d["v2"] * w, "L", f"V2/F = {d['v_ratio']:.3g} x V1/F (human ratio)"),
            "ka": param(d["ka"], "1/h", "first-order absorption rate, fitted to Cmax"),
        },
        "covariate_effects": [power("cl", w, 0.75), power("q", w, 0.75), power("v1", w, 1.0),
                              power("v2", w, 1.0)],
        "uncertainty": {
            **{k: span(r[k][0] * w, r[k][1] * w, basis) for k in ("cl", "v1", "q", "v2")},
            "ka": span(*r["ka"], basis),
            "t_half_h": span(38.7 - 12.7, 99.5, "Larson 2016: 38.7 +/- 12.7 h after one dose, "
                             "99.5 +/- 89.5 h after five daily doses"),
        },
        "notes": {"discrepancies": [
            "After five daily doses Larson 2016 report Cmax 5.49 ng/mL and AUC0-48 126 "
            "ng*h/mL, lower than after one dose; this linear model predicts "
            f"{d['multi']['cmax']:.3g} ng/mL and {d['multi']['auc48']:.3g} ng*h/mL "
            "(accumulation). The authors report that PK differed significantly between one and "
            "five doses; the cause is not in the stored abstract.",
            "The terminal half-life after five doses (99.5 h, SD 89.5) is much longer than after "
            "one (38.7 h): troughs after weeks of dosing may be under-predicted.",
            "V1, Q, V2 and ka rest on the human shape ratios; only CL/F and the single-dose "
            "Cmax and AUC are pinned by dog data.",
        ]},
    }
    return dump("Dog rapamycin, oral: two-compartment fit to Larson 2016 single 0.1 mg/kg "
                "dose.", doc)


def render_marmoset(m: dict) -> str:
    w = m["weight_kg"]
    doc = {
        "model": {
            "name": "marmoset_oral", "drug": "sirolimus", "species": "marmoset",
            "strain": "common marmoset (Callithrix jacchus)", "sex": "both",
            "reference_weight_kg": w, "default": True,
            "title": "Marmoset: one compartment, CL/F solved for the mean trough 5.2 ng/mL at "
                     "~1 mg/kg/day (Tardif 2015); half-life bracketed",
            "concentration": "whole_blood",
            "summary": "Whole-blood rapamycin in common marmosets on once-daily oral "
                       "eudragit-encapsulated rapamycin. One mean trough (5.2 ng/mL, range "
                       "1.93-10.73) fixes CL/F given a terminal half-life, which is bracketed "
                       "from dog and human half-lives; troughs are pinned, peaks are not.",
        },
        "source": {
            "citation": "Tardif S, Ross C, Bergman P, et al. Testing efficacy of administration "
                        "of the antiaging drug rapamycin in a nonhuman primate, the common "
                        "marmoset. J Gerontol A Biol Sci Med Sci 2015;70(5) (abstract).",
            "fit": SCRIPT, "data": ["tardif2015-trough"],
        },
        "population": {
            "description": "Trained, socially housed common marmosets, short-term (3 weeks) and "
                           "long-term (14 months) daily oral dosing",
            "strain": "Callithrix jacchus", "sex": "both", "weight_kg": [0.236, 0.4],
            "dose_mg_kg_day": [1.0, 1.0], "n": "not reported for the trough summary",
        },
        "structure": {
            "absorption": "first_order", "disposition": 1, "clearance": "direct",
            "blood": "none", "routes": ["oral"], "clearance_reference_route": "oral",
        },
        "parameters": {
            "cl": param(m["cl"], "L/h", f"apparent clearance CL/F ({m['cl'] / w:.3g} L/h/kg), "
                        f"solved for the mean trough at t1/2 {m['t_half']:.3g} h"),
            "v1": param(m["v"], "L", "apparent volume V/F = CL/F x t1/2 / ln 2 (half-life not "
                        "pinned)"),
            "ka": param(m["ka"], "1/h", "absorption rate; not pinned (dog value)"),
        },
        "covariate_effects": [power("cl", w, 0.75), power("v1", w, 1.0)],
        "uncertainty": {
            "cl": span(*m["cl_range"], "CL/F re-solved for the mean trough over the half-life "
                       "bracket and ka 0.1-3 /h"),
            "v1": span(*m["v_range"], "as cl, times t1/2 / ln 2"),
            "t_half_h": span(*m["t_half_range"], "dog (Larson 2016: 38.7 and 99.5 h) and human "
                             "(82 h) half-lives scaled to 0.4 kg with t1/2 ~ W^0.25"),
            "ka": span(*KA_ORAL_RANGE, KA_ORAL_BASIS),
            "cl_between_animals": span(*m["cl_population"], "CL/F that reproduces the highest "
                                       "(10.73) and lowest (1.93 ng/mL) observed trough: "
                                       "between-animal spread, not parameter uncertainty"),
        },
        "notes": {"discrepancies": [
            "Females had significantly lower troughs than males (Sills 2019; no numbers in the "
            "stored abstract); the model is sex-neutral.",
            "The dose is roughly 1.0 mg/kg/day (Tardif 2015); the reference weight 0.4 kg is "
            "from encyclopaedic sources, not from the study.",
        ]},
    }
    return dump("Marmoset rapamycin, oral eudragit-encapsulated: CL/F from the Tardif 2015 "
                "trough.", doc)


# -------------------------------------------------------------------------------- report

def report(mouse: dict, dog: dict, marm: dict, obs: dict) -> str:
    """Human-readable fit summary with the residual of every observation."""
    out = ["== dog (Larson 2016, per kg, 0.1 mg/kg) ==",
           f"shape from Wu 2012: Q/CL = {dog['q_ratio']:.3f}, V2/V1 = {dog['v_ratio']:.3f}",
           "fitted: " + ", ".join(f"{k} = {dog[k]:.4g}" for k in ("ka", "v1", "cl", "q", "v2"))
           + " (1/h, L/kg, L/h/kg)",
           "ranges: " + ", ".join(f"{k} {lo:.3g}-{hi:.3g}" for k, (lo, hi) in dog["range"].items()),
           "residuals (log predicted/observed):"]
    preds = {f"{run}-{k}": dog[run][k]
             for run in ("single", "multi") for k in ("cmax", "auc48", "thalf")}
    for key, pred in preds.items():
        row = observation(obs, f"larson2016-{key}")
        tag = "fit" if row["use_in_fit"] else "check"
        out.append(f"  {row['id']:28s} obs {row['value']:8.3g} pred {pred:8.3g} "
                   f"log-ratio {math.log(pred / row['value']):+.3f} [{tag}]")
    prof = mouse["profile_default"]
    out += ["", "== mouse (Livi 2013, 14 ppm eRapa, 2.24 mg/kg/day design) ==",
            f"CL/F_diet = {mouse['cl']:.4g} L/h at {mouse['weight_kg'] * 1000:.0f} g "
            f"({mouse['cl'] / mouse['weight_kg']:.4g} L/h/kg); range {mouse['cl_range'][0]:.3g}-"
            f"{mouse['cl_range'][1]:.3g} L/h",
            "half-life bracket (scaled to 30 g): " + ", ".join(
                f"{k} {v:.3g} h" for k, v in mouse["t_half_brackets"].items())
            + f"; model value {mouse['t_half']:.3g} h",
            f"V/F_diet = {mouse['v']:.4g} L "
            f"(range {mouse['v_range'][0]:.3g}-{mouse['v_range'][1]:.3g})",
            f"residual livi2013-diet-14ppm: daily mean {prof[:-1].mean():.3f} vs 4.0 ng/mL "
            f"(default profile min {prof.min():.2f}, max {prof.max():.2f} over the day)",
            "within-day range over the unpinned parameters "
            "(t1/2 h, ka 1/h, dark fraction -> min, max, mean ng/mL):"]
    for th, ka, d, lo, hi, mean in mouse["swings"]:
        out.append(f"  t1/2 {th:5.2f}  ka {ka:4.2f}  dark {d:.1f} -> "
                   f"{lo:5.2f} {hi:5.2f} {mean:5.2f}")
    out.append("linear prediction at 42 ppm (extrapolation; females steeper in Miller 2014): "
               f"{4.0 * 42.0 / 14.0:.1f} ng/mL daily mean")
    out.append("i.p. 2 mg/kg every 5 days, steady state (f_ip, ka_ip, t1/2 -> peak, trough):")
    for f_ip, ka, th, pk, tr in mouse["ip_box"]:
        out.append(f"  f_ip {f_ip:5.2f}  ka_ip {ka:5.2f}  t1/2 {th:5.2f} -> {pk:9.3g} {tr:9.3g}")
    peaks = [b[3] for b in mouse["ip_box"]]
    troughs = [b[4] for b in mouse["ip_box"]]
    out.append(f"  peak spans {min(peaks):.3g}-{max(peaks):.3g} ng/mL, trough "
               f"{min(troughs):.3g}-{max(troughs):.3g} ng/mL: not pinned by data")
    out.append("s.c. 1.5 mg/kg Mon/Wed/Fri, 2 weeks per month (Anisimov 2011), cycle steady "
               "state (f_sc, ka_sc, t1/2 -> Cavg, peak, trough):")
    for f_sc, ka, th, cavg, pk, tr in mouse["sc_box"]:
        out.append(f"  f_sc {f_sc:5.2f}  ka_sc {ka:5.2f}  t1/2 {th:5.2f} -> {cavg:9.3g} "
                   f"{pk:9.3g} {tr:9.3g}")
    cavgs = [b[3] for b in mouse["sc_box"]]
    peaks = [b[4] for b in mouse["sc_box"]]
    out.append(f"  Cavg spans {min(cavgs):.3g}-{max(cavgs):.3g} ng/mL (f_sc only), peak "
               f"{min(peaks):.3g}-{max(peaks):.3g} ng/mL: not pinned by data")
    out += ["", "== marmoset (Tardif 2015, ~1 mg/kg/day, mean trough 5.2 ng/mL) ==",
            "half-life bracket (scaled to 0.4 kg): " + ", ".join(
                f"{k} {v:.3g} h" for k, v in marm["t_half_brackets"].items()),
            f"CL/F = {marm['cl']:.4g} L/h ({marm['cl'] / marm['weight_kg']:.4g} L/h/kg) at "
            f"t1/2 {marm['t_half']:.3g} h, ka {marm['ka']:.3g}; "
            f"residual trough {marm['trough_check']:.3f} vs 5.2",
            "CL/F profile (t1/2 h, ka 1/h -> CL/F L/h):"]
    for (th, ka), cl in marm["profile"].items():
        out.append(f"  t1/2 {th:5.2f}  ka {ka:4.2f} -> {cl:.4g}")
    out.append(f"between-animal CL/F for troughs 10.73 and 1.93 ng/mL: "
               f"{marm['cl_population'][0]:.4g}-{marm['cl_population'][1]:.4g} L/h")
    return "\n".join(out)


def build() -> tuple[dict[str, str], str]:
    """Fit everything; return the model file texts by file name and the report."""
    obs, food, human = load()
    dog = fit_dog(obs, human)
    mouse = fit_mouse(obs, food, dog["ka"])
    marm = fit_marmoset(obs, dog["ka"])
    files = {
        "mouse_diet.toml": render_mouse(mouse),
        "dog_oral.toml": render_dog(dog, obs["scaling"]["dog"]["weight_kg"]),
        "marmoset_oral.toml": render_marmoset(marm),
    }
    return files, report(mouse, dog, marm, obs)


def main(argv: list[str]) -> int:
    """Print the fit; with --write update the model files, with --check compare them."""
    files, text = build()
    print(text)
    check, write = "--check" in argv, "--write" in argv
    status = 0
    for name, body in files.items():
        path = MODEL_DIR / name
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if check and old != body:
            print(f"{path} is stale; run python {SCRIPT} --write", file=sys.stderr)
            status = 1
        elif write and old != body:
            MODEL_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
            print(f"wrote {path}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
