"""Calibration of the mTORC2 model against labelled regimens.

Rows: ``pkdose/data/mtorc2_calibration.toml``.

The free parameters are IC50_2 and Imax_2 (mtorc2.md §5.6); the other PD parameters keep
their proposed values. The objective is an ordinal likelihood of each row's label given
the predicted mean (and lowest) assembled mTORC2 fraction, weighted by the row's
confidence; human rows average it over the prior range of the unknown human turnover
half-life. ``scripts/calibrate_mtorc2.py`` runs the fit and writes the result into
``pkdose/data/mtor_pd.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from pkdose.data import load_toml
from pkdose.engine import mtor_profile, scenario, verdicts
from pkdose.pd import (
    LABELS,
    MtorProfile,
    PDParams,
    constant_profile,
    load_pd,
    mtorc2_window,
    settings,
)

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


def profile_for(row: Row) -> MtorProfile | None:
    """The concentration profile of a simulable row (None otherwise)."""
    if row.simulate == "regimen":
        # Calibration rows are the published regimens, in range or not; the docs say so.
        return mtor_profile(scenario(row.regimen, warn=False))
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
        return verdicts(scenario(row.regimen, warn=False), pd_params=params)[0]
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


__all__ = ["BOUNDS", "FREE", "Fit", "LABELS", "Row", "calibration_table", "fit", "load_rows",
           "objective", "profile_for", "score"]
