"""Calibration of the mTORC2 model against labelled regimens.

Rows: ``pkdose/data/mtorc2_calibration.toml``; for the mTORC1 engagement-site half-life,
``pkdose/data/mtorc1_engagement.toml`` (training rows choose it, check rows do not).

The free parameters are IC50_2 and Imax_2 (mtorc2.md §5.6); the other PD parameters keep
their proposed values. The objective is an ordinal likelihood of each row's label given
the predicted mean (and lowest) assembled mTORC2 fraction, weighted by the row's
confidence; human rows average it over the prior range of the unknown human turnover
half-life. ``scripts/calibrate_mtorc2.py`` runs the fit and writes the result into
``pkdose/data/mtor_pd.toml``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from pkdose.data import load_toml
from pkdose.engine import mtor_profile, scenario, verdicts
from pkdose.errors import ExtrapolationWarning
from pkdose.pd import (
    LABELS,
    MtorProfile,
    PDParams,
    constant_profile,
    load_pd,
    mtorc2_window,
    pd_curves,
    respond,
    settings,
)
from pkdose.simulation import simulate

FREE = ("ic50_2_ng_ml", "imax_2")
#: Plausible ranges of the free parameters (mtorc2.md §5.2); the fit stays inside them.
BOUNDS = {"ic50_2_ng_ml": (2.0, 10.0), "imax_2": (0.5, 0.8)}
#: Softness of the ordinal likelihood, in units of mTORC2 fraction: a quarter of the 0.10
#: wide equivocal band, so a prediction 0.05 past a line is ~88 % on that side.
SCALE = 0.025


@dataclass(frozen=True)
class Row:
    """One labelled regimen and how pkdose simulates it."""

    id: str
    label: str
    confidence: str
    weight: float
    species: str
    simulate: str
    regimen: str | None
    conc_ng_ml: float | None
    reason: str
    source: str
    note: str


def load_rows() -> list[Row]:
    """All calibration rows, simulable or not."""
    raw = load_toml("mtorc2_calibration.toml")
    weights = raw["weights"]
    return [Row(r["id"], r["label"], r["confidence"], float(weights[r["confidence"]]),
                r["species"], r["simulate"], r.get("regimen"), r.get("conc_ng_ml"),
                r.get("reason", ""), r["source"], r.get("note", "")) for r in raw["row"]]


def _scenario(row: Row):
    """A regimen row on its species' default model (human rows: the human default)."""
    return scenario(row.regimen, warn=False,
                    species=None if row.species == "human" else row.species)


def profile_for(row: Row) -> MtorProfile | None:
    """The concentration profile of a simulable row (None otherwise)."""
    if row.simulate == "regimen":
        # Calibration rows are the published regimens, in range or not; the docs say so.
        return mtor_profile(_scenario(row))
    if row.simulate == "constant":
        return constant_profile(row.conc_ng_ml)
    return None


def _m2_stats(profile: MtorProfile, params: PDParams, half_life_h: float
              ) -> tuple[float, float]:
    w = mtorc2_window(profile, params, half_life_h)[0]
    # Trapezoid mean is ample here: the likelihood is smooth on a 0.025 scale.
    mean = float(np.sum((w[1:] + w[:-1]) * 0.5) / (w.size - 1))
    return mean, float(w.min())


def _log_lik(label: str, mean_m2: float, min_m2: float) -> float:
    v = settings()["verdict"]
    p_inh = 1.0 / (1.0 + math.exp(-(v["inhibited_mean_below"] - mean_m2) / SCALE))
    spare_margin = min(mean_m2 - v["spared_mean_at_least"], min_m2 - v["spared_min_at_least"])
    p_spa = 1.0 / (1.0 + math.exp(-spare_margin / SCALE))
    p = {"inhibited": p_inh, "spared": p_spa,
         "equivocal": max(1.0 - p_inh - p_spa, 0.0)}[label]
    return math.log(max(p, 1e-12))


def _half_lives(row: Row, params: PDParams) -> tuple[float, ...]:
    return settings()["human_t_half_m2_h"] if row.species == "human" else (params.t_half_m2_h,)


def objective(values: np.ndarray, rows: list[Row], profiles: list[MtorProfile],
              base: PDParams) -> float:
    """Weighted negative ordinal log-likelihood of the labels."""
    params = base.with_(**dict(zip(FREE, (float(v) for v in values), strict=True)))
    total = 0.0
    for row, prof in zip(rows, profiles, strict=True):
        ths = _half_lives(row, params)
        ll = [_log_lik(row.label, *_m2_stats(prof, params, th)) for th in ths]
        total -= row.weight * float(np.mean(ll))
    return total


@dataclass(frozen=True)
class Fit:
    """Result of the calibration."""

    params: PDParams
    objective: float
    objective_proposed: float
    table: pd.DataFrame


def calibration_table(params: PDParams, rows: list[Row] | None = None) -> pd.DataFrame:
    """Expected vs predicted verdict for every row (not-simulable rows with the reason)."""
    rows = rows or load_rows()
    out = []
    for row in rows:
        prof = profile_for(row)
        if prof is None:
            out.append({"id": row.id, "species": row.species, "expected": row.label,
                        "confidence": row.confidence, "predicted": None, "mtorc2_mean": None,
                        "correct": None, "simulated_as": "", "note": row.reason})
            continue
        v = _verdict(row, prof, params)
        out.append({"id": row.id, "species": row.species, "expected": row.label,
                    "confidence": row.confidence, "predicted": v.label,
                    "mtorc2_mean": v.metrics["mtorc2_mean"], "correct": v.label == row.label,
                    "simulated_as": row.regimen or f"constant {row.conc_ng_ml:g} ng/mL",
                    "note": row.note})
    return pd.DataFrame(out)


def _verdict(row: Row, prof: MtorProfile, params: PDParams):
    """The verdict of a row as pkdose gives it (constant rows: from the profile)."""
    from pkdose import pd as mtor

    if row.simulate == "regimen":
        return verdicts(_scenario(row), pd_params=params)[0]
    halves = mtor.half_lives_for(row.species, params)
    resp = mtor.respond(prof, params, halves)
    return mtor.verdict_of(0, row.id, prof, resp, mtor.rule_inputs(prof))


def score(table: pd.DataFrame) -> dict[str, float]:
    """Rows right / rows simulated, unweighted and weighted by confidence."""
    sim = table[table["predicted"].notna()]
    weights = {r.id: r.weight for r in load_rows()}
    w = sim["id"].map(weights)
    return {"right": int(sim["correct"].sum()), "simulated": len(sim),
            "unweighted": float(sim["correct"].mean()),
            "weighted": float((w * sim["correct"]).sum() / w.sum())}


def fit(grid: int = 25) -> Fit:
    """Fit IC50_2 and Imax_2: coarse grid, then Nelder-Mead from the best grid point."""
    base = load_pd("proposed")
    rows = [r for r in load_rows() if r.simulate != "none"]
    profiles = [profile_for(r) for r in rows]
    (lo1, hi1), (lo2, hi2) = BOUNDS[FREE[0]], BOUNDS[FREE[1]]
    best = (math.inf, None)
    for a in np.linspace(lo1, hi1, grid):
        for b in np.linspace(lo2, hi2, grid):
            val = objective(np.array([a, b]), rows, profiles, base)
            if val < best[0]:
                best = (val, np.array([a, b]))

    def bounded(x: np.ndarray) -> float:
        if not (lo1 <= x[0] <= hi1 and lo2 <= x[1] <= hi2):
            return 1e9
        return objective(x, rows, profiles, base)

    res = optimize.minimize(bounded, best[1], method="Nelder-Mead",
                            options={"xatol": 1e-3, "fatol": 1e-6})
    x = res.x if res.fun <= best[0] else best[1]
    params = base.with_(**dict(zip(FREE, (round(float(v), 3) for v in x), strict=True)))
    return Fit(params, objective(np.array([getattr(params, k) for k in FREE]), rows, profiles,
                                 base),
               objective(np.array([getattr(base, k) for k in FREE]), rows, profiles, base),
               calibration_table(params))


# --- mTORC1 engagement: the engagement-site half-life -----------------------------------


@dataclass(frozen=True)
class EngagementRow:
    """A measured mTORC1 readout at a stated time after a regimen."""

    id: str
    role: str
    weight: float
    regimen: str
    at: str
    hours_after_dose: float
    at_least: float | None
    below: float | None
    tissue: str
    finding: str
    source: str


def engagement_rows() -> list[EngagementRow]:
    """The rows of ``mtorc1_engagement.toml`` (training and check)."""
    raw = load_toml("mtorc1_engagement.toml")
    w = raw["weights"]
    return [EngagementRow(r["id"], r["role"], float(w[r["confidence"]]), r["regimen"], r["at"],
                          float(r["hours_after_dose"]), r.get("at_least"), r.get("below"),
                          r["tissue"], r["finding"], r["source"]) for r in raw["row"]]


def engagement_grid_h() -> tuple[float, ...]:
    """The half-lives (h) the choice rule of ``mtorc1_engagement.toml`` looks at."""
    return tuple(float(h) for h in load_toml("mtorc1_engagement.toml")["grid_h"])


def engagement_at(row: EngagementRow, params: PDParams) -> float:
    """Predicted mTORC1 inhibition of a row (typical subject, default model)."""
    scn = scenario(row.regimen, warn=False)
    mult = float(settings()["drug_multiplier"].get(scn.regimen.drug, 1.0))
    if row.at == "steady state":
        prof = mtor_profile(scn)
        i1 = respond(prof, params, (params.t_half_m2_h,)).curves["mtorc1_inhibition"][0]
        return float(np.interp(row.hours_after_dose, prof.time_h, i1))
    step = 0.05
    with warnings.catch_warnings():
        # Rows are the published regimens, in a model's range or not; the docs say so.
        warnings.simplefilter("ignore", ExtrapolationWarning)
        curve = simulate(scn.regimen, until_h=row.hours_after_dose, step_h=step)
    i1 = pd_curves(curve["conc_ng_ml"].to_numpy() * mult, step, params)["mtorc1_inhibition"]
    return float(i1[-1])


def engagement_ok(row: EngagementRow, value: float) -> bool:
    """Whether a prediction meets the row's bound."""
    return ((row.at_least is None or value >= row.at_least)
            and (row.below is None or value < row.below))


def engagement_table(params: PDParams) -> pd.DataFrame:
    """Every engagement row with its prediction and whether it meets the bound."""
    out = []
    for row in engagement_rows():
        v = engagement_at(row, params)
        bound = (f">= {row.at_least:g}" if row.at_least is not None else f"< {row.below:g}")
        out.append({"id": row.id, "role": row.role, "weight": row.weight,
                    "regimen": row.regimen, "when": f"{row.hours_after_dose:g} h after a dose"
                    f" ({row.at})", "expected": bound, "predicted": v,
                    "correct": engagement_ok(row, v)})
    return pd.DataFrame(out)


def engagement_score(table: pd.DataFrame, role: str = "training") -> dict[str, float]:
    """Rows right / rows of a role, unweighted and weighted by confidence."""
    sub = table[table["role"] == role]
    return {"right": int(sub["correct"].sum()), "rows": len(sub),
            "unweighted": float(sub["correct"].mean()),
            "weighted": float((sub["weight"] * sub["correct"]).sum() / sub["weight"].sum())}


def choose_t_half_c1(base: PDParams | None = None) -> tuple[float, pd.DataFrame]:
    """Apply the written rule: the shortest grid half-life with the best weighted training
    score. Returns it and the score per half-life (for the docs)."""
    base = base or load_pd("proposed")
    rows = []
    for th in engagement_grid_h():
        s = engagement_score(engagement_table(base.with_(t_half_c1_h=th)))
        rows.append({"t_half_c1_h": th, **s})
    scores = pd.DataFrame(rows)
    best = scores["weighted"].max()
    return float(scores.loc[scores["weighted"] >= best - 1e-12, "t_half_c1_h"].min()), scores


__all__ = ["BOUNDS", "FREE", "EngagementRow", "Fit", "LABELS", "Row", "calibration_table",
           "choose_t_half_c1", "engagement_at", "engagement_grid_h", "engagement_ok",
           "engagement_rows", "engagement_score", "engagement_table", "fit", "load_rows",
           "objective", "profile_for", "score"]
