"""Digitised concentration-time profiles and how well a model's predictions follow them.

A time course is a published mean whole-blood profile after a regimen pkdose can parse,
with the covariates its source reports. The sirolimus training set
(``shared/data/sirolimus_timecourses_training.json``: 16 healthy single-dose profiles
digitised and curated by PK-DB, from the rapamycin PBPK model repository of Jesionek &
Koenig 2026, doi:10.5281/zenodo.17091694, CC BY-SA 4.0) is read by
:func:`load_timecourses`; ``scripts/fit_sirolimus_pk.py`` fits the pkdose2026 model to it
and ``scripts/score_timecourses.py`` scores every shipped sirolimus model on it with
:func:`score`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pkdose.errors import ExtrapolationWarning, PkdoseError
from pkdose.model import Model, covariate_table
from pkdose.regimen import compile_trains
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import dose_amounts, simulate

#: Terminal half-lives of observed and predicted curves alike are log-linear slopes over the
#: sampled points from this time on (at least TERMINAL_MIN_POINTS of them).
TERMINAL_FROM_H = 48.0
TERMINAL_MIN_POINTS = 3

#: Covariates a profile's group characteristics may give, by pkdose name.
_COVARIATES = ("sex", "weight_kg", "age_y", "height_cm", "hct_pct", "bsa_m2")


@dataclass(frozen=True)
class TimeCourse:
    """One mean profile. ``times_h``/``conc_ng_ml`` keep only points after time 0."""

    id: str
    study: str
    figure: str
    group: str
    cohort: str
    formulation: str
    regimen: str
    subject: Mapping[str, object]
    dose_mg: float
    n: int
    times_h: np.ndarray
    conc_ng_ml: np.ndarray
    source: str = ""
    flags: tuple[str, ...] = field(default_factory=tuple)


def subject_covariates(raw: Mapping[str, object]) -> dict[str, object]:
    """pkdose covariates from a profile's group characteristics.

    A mixed-sex group (e.g. "mixed (29M/1F)") is simulated as male, its majority in every
    profile of the training set; no shipped sirolimus model has a sex effect.
    """
    out = {k: raw[k] for k in _COVARIATES if k in raw}
    if out.get("sex") not in ("male", "female"):
        out["sex"] = "male"
    return out


def formulation_of(text: str) -> str:
    """``"solution"`` or ``"tablet"`` from a free-text formulation."""
    low = text.casefold()
    if "solution" in low:
        return "solution"
    if "tablet" in low:
        return "tablet"
    raise PkdoseError(f"unknown formulation {text!r}")


def cohort_of(raw: Mapping[str, object]) -> str:
    """The independent group of subjects a profile comes from.

    Brattstrom 2000 gave each dose to a different group of subjects; in every other study
    of the training set all profiles share one group (Korth-Bradley 2012: crossover arms;
    Zhang 2017: genotype strata of the same 31 subjects).
    """
    if raw["study"] == "Brattstrom2000":
        return f"{raw['study']}:{raw['group']}"
    return str(raw["study"])


def load_timecourses(path: str | Path) -> tuple[dict, tuple[TimeCourse, ...]]:
    """The JSON file (metadata) and its profiles, doses resolved to mg by pkdose."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PkdoseError(f"time-course file {path} not found") from None
    out = []
    for p in raw["profiles"]:
        subject = subject_covariates(p.get("subjects", {}))
        trains = compile_trains(parse_regimen(p["regimen_text"]))
        cov = covariate_table(subject)
        dose = float(sum(dose_amounts(tr, cov)[0] * tr.n for tr in trains))
        t = np.asarray(p["times_h"], float) + float(p.get("time_offset_h", 0.0))
        c = np.asarray(p["conc_ng_ml"], float)
        keep = t > 0  # drug-naive at t = 0: a nonzero mean there is a digitisation artefact
        out.append(TimeCourse(
            id=p["id"], study=p["study"], figure=p.get("figure", ""), group=p.get("group", ""),
            cohort=cohort_of(p), formulation=formulation_of(p["formulation"]),
            regimen=p["regimen_text"], subject=subject, dose_mg=dose, n=int(p["n"]),
            times_h=t[keep], conc_ng_ml=c[keep], source=p.get("source", ""),
            flags=tuple(p.get("flags", ())),
        ))
    return raw, tuple(out)


def predict(tc: TimeCourse, model: Model) -> np.ndarray:
    """Typical-value whole-blood prediction at the profile's sampling times.

    Extrapolation warnings are silenced: the score tables report each model's fitted ranges.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        df = simulate(tc.regimen, model=model, subjects=dict(tc.subject), times_h=tc.times_h)
    return df["conc_ng_ml"].to_numpy(float)


def terminal_half_life_h(times_h: np.ndarray, conc: np.ndarray,
                         from_h: float = TERMINAL_FROM_H) -> float:
    """ln 2 / slope of a log-linear fit over the points from ``from_h`` on (NaN if too few)."""
    t, c = np.asarray(times_h, float), np.asarray(conc, float)
    keep = (t >= from_h) & (c > 0)
    if keep.sum() < TERMINAL_MIN_POINTS:
        return math.nan
    slope = np.polyfit(t[keep], np.log(c[keep]), 1)[0]
    return math.log(2.0) / -slope if slope < 0 else math.inf


def _auc(t: np.ndarray, c: np.ndarray) -> float:
    """Linear-trapezoid AUC from time 0 (concentration 0) to the last sampled point."""
    return float(np.trapezoid(np.concatenate([[0.0], c]), np.concatenate([[0.0], t])))


def score(tc: TimeCourse, pred: np.ndarray) -> dict[str, float]:
    """Agreement of a prediction with one profile, all on the sampled times.

    ``gmfe`` (geometric mean fold error, exp(mean |ln(pred/obs)|)), ``within_2fold`` (share
    of points with 0.5 <= pred/obs <= 2), ``cmax_ratio`` (highest sampled prediction / highest
    observation), ``tmax_obs_h``/``tmax_pred_h``, ``auc_ratio`` (trapezoid AUC from 0 over the
    sampled span), ``tail_ratio`` (pred/obs at the last sampled point) and the terminal
    half-lives of observation and prediction (:func:`terminal_half_life_h`, same points).
    """
    obs = tc.conc_ng_ml
    pred = np.maximum(np.asarray(pred, float), 1e-300)
    lr = np.log(pred / obs)
    return {
        "gmfe": float(np.exp(np.mean(np.abs(lr)))),
        "within_2fold": float(np.mean(np.abs(lr) <= math.log(2.0) + 1e-12)),
        "cmax_ratio": float(pred.max() / obs.max()),
        "tmax_obs_h": float(tc.times_h[np.argmax(obs)]),
        "tmax_pred_h": float(tc.times_h[np.argmax(pred)]),
        "auc_ratio": _auc(tc.times_h, pred) / _auc(tc.times_h, obs),
        "tail_ratio": float(pred[-1] / obs[-1]),
        "thalf_obs_h": terminal_half_life_h(tc.times_h, obs),
        "thalf_pred_h": terminal_half_life_h(tc.times_h, pred),
        "n_points": int(obs.size),
        "mean_log_ratio": float(np.mean(lr)),
    }
