"""Side-by-side exposure of several regimens: one row per regimen, metrics as columns."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pkdose import exposure
from pkdose.errors import PkdoseError
from pkdose.model import get_model
from pkdose.regimen import HOURS_PER_WEEK, Regimen, block_starts, compile_trains
from pkdose.simulate import (
    as_regimen,
    check_extrapolation,
    concentrations,
    prepare,
    resolve_model,
    steady_state_concentrations,
    steady_state_trains,
)

#: Grid step for metrics: fine enough that parabola-refined Cmax and Simpson AUC are
#: accurate to better than 1e-5 relative for the shipped models.
METRIC_STEP_H = 0.05
ABOVE_NG_ML = (1.0, 3.0, 4.0)
#: Cycles searched for T90ss (also capped at 26 weeks).
T90_MAX_CYCLES = 400
BELOW_NG_ML = (1.0,)


def _grid(length_h: float) -> np.ndarray:
    n_int = max(2, int(math.ceil(length_h / METRIC_STEP_H)))
    n_int += n_int % 2  # Simpson's rule wants an even number of intervals
    return np.linspace(0.0, length_h, n_int + 1)


def _t90ss(prep, reg: Regimen, period: float, cavg_ss: np.ndarray) -> np.ndarray:
    """Start of the first cycle whose Cavg reaches 90 % of the steady-state Cavg (h).

    Cycles are counted from the start of the repeating block, over at most
    ``T90_MAX_CYCLES`` cycles or 26 weeks (NaN if not reached by then).
    """
    start = block_starts(reg)[-2]
    n_cycles = int(min(T90_MAX_CYCLES, max(1, math.ceil(26 * HOURS_PER_WEEK / period))))
    per_cycle = _grid(period)
    t = (start + period * np.arange(n_cycles)[:, None] + per_cycle[None, :]).ravel()
    conc = concentrations(prep, compile_trains(reg), t)["conc_ng_ml"]
    n = conc.shape[0]
    cavg = exposure.interval_metrics(per_cycle, conc.reshape(n * n_cycles, per_cycle.size),
                                     above=(), below=(), periodic=False)["cavg_ng_ml"]
    cavg = cavg.reshape(n, n_cycles)
    return exposure.time_to_fraction_of_ss(start + period * np.arange(n_cycles), cavg,
                                           cavg_ss, fraction=0.9)


def regimen_exposure(regimen: Regimen | str, model=None, subjects=None,
                     params: Mapping[str, float] | None = None,
                     window_h: tuple[float, float] | None = None,
                     with_pd: bool = True, with_: Sequence[str] | str = (),
                     species: str | None = None) -> pd.DataFrame:
    """Exposure metrics for one regimen, one row per subject.

    Parameters
    ----------
    window_h : (start, end), optional
        Summarise the curve over this window (hours from the first dose) instead of the
        default: one cycle of the periodic steady state for regimens that go on
        (``basis = "steady state"``, with the accumulation ratio Rac and the time to 90 %
        of steady state T90ss), the first week for regimens that stop
        (``basis = "first week"``).
    with_ : str or sequence of str
        Co-medications applied through the interaction layer (``pkdose.interactions``).
    with_pd : bool
        Add mTOR pharmacodynamics (``pkdose.pd``): mean mTORC1 inhibition, the fraction of
        time above 50 %, the mean and lowest mTORC2 fraction and the mTORC2 verdict with its
        reasons (judged on the regimen's own steady state or last week, whatever the window).
    species : str, optional
        The species' default model (mouse, dog, marmoset; default human) when ``model``
        is None; animal subjects then have weight and sex only.
    """
    reg = as_regimen(regimen)
    m = resolve_model(reg, model, params, species)
    comed = [with_] if isinstance(with_, str) else list(with_)
    prep = prepare(m, subjects, with_=comed)
    check_extrapolation(m, reg, prep.cov)
    extra: dict[str, np.ndarray] = {}
    if window_h is not None:
        lo, hi = (float(x) for x in window_h)
        if not (0 <= lo < hi and math.isfinite(hi)):
            raise PkdoseError(f"window must satisfy 0 <= start < end, got {lo:g}-{hi:g} h")
        period = hi - lo
        t = _grid(period)
        conc = concentrations(prep, compile_trains(reg), lo + t)
        basis = f"window {lo:g}-{hi:g} h"
        periodic = False
    elif reg.is_indefinite:
        _, period, _ = steady_state_trains(reg)
        t = _grid(period)
        conc = steady_state_concentrations(prep, reg, t)
        basis = "steady state"
        periodic = True
        first = concentrations(prep, compile_trains(reg), block_starts(reg)[-2] + t)
        auc_first = exposure.interval_metrics(t, first["conc_ng_ml"], above=(), below=(),
                                              periodic=False)["auctau_ng_h_ml"]
    else:
        period = HOURS_PER_WEEK
        t = _grid(period)
        conc = concentrations(prep, compile_trains(reg), t)
        basis = "first week"
        periodic = False
    vals = exposure.interval_metrics(t, conc["conc_ng_ml"], above=ABOVE_NG_ML,
                                     below=BELOW_NG_ML, periodic=periodic)
    if basis == "steady state":
        extra["rac"] = exposure.accumulation_ratio(auc_first, vals["auctau_ng_h_ml"])
        extra["t90ss_h"] = _t90ss(prep, reg, period, vals["cavg_ng_ml"])
    df = pd.DataFrame({**vals, **extra})
    if "plasma_ng_ml" in conc:
        pv = exposure.interval_metrics(t, conc["plasma_ng_ml"], above=(), below=(),
                                       periodic=periodic)
        df["plasma_cmax_ng_ml"] = pv["cmax_ng_ml"]
        df["plasma_cavg_ng_ml"] = pv["cavg_ng_ml"]
    if with_pd:
        from pkdose.pd import judge, regimen_pd, steady_state_profile

        if basis == "steady state":
            # The steady-state cycle just computed is the one the verdict is judged on.
            verdict, _ = judge(steady_state_profile(reg, t, conc["conc_ng_ml"][0]),
                               species=m.species)
        else:
            verdict, _ = regimen_pd(reg, m, subjects, species=m.species, with_=comed)
        met = verdict.metrics
        df["mtorc1_mean"] = met["mtorc1_mean"]
        df["mtorc1_frac_above_50"] = met["mtorc1_frac_above_50"]
        df["mtorc2_mean"] = met["mtorc2_mean"]
        df["mtorc2_min"] = met["mtorc2_min"]
        df["mtorc2_verdict"] = verdict.label
        df["mtorc2_rule_verdict"] = verdict.rule_label
        df["mtorc2_reasons"] = "; ".join(verdict.reasons)
    df.insert(0, "window_h", period)
    df.insert(0, "comedication", "+".join(comed))
    df.insert(0, "basis", basis)
    df.insert(0, "model", m.name)
    df.insert(0, "drug", reg.drug)
    df.insert(0, "regimen", str(reg))
    return df


def compare(regimens: Sequence[Regimen | str], model=None, subjects=None,
            params: Mapping[str, float] | None = None,
            window_h: tuple[float, float] | None = None, with_pd: bool = True,
            with_: Sequence[str] | str = (), species: str | None = None) -> pd.DataFrame:
    """Exposure metrics of several regimens for the same subject, one row per regimen.

    ``model`` (object, name or path) is used for the regimens of its drug; regimens of the
    other drug use that drug's default model (of ``species``, default human). ``params``
    overrides apply to every model used.
    """
    chosen = get_model(model) if isinstance(model, str) else model
    rows = []
    for r in regimens:
        reg = as_regimen(r)
        use = chosen if chosen is not None and chosen.drug == reg.drug else None
        rows.append(regimen_exposure(reg, use, subjects, params, window_h, with_pd,
                                     with_, species).iloc[[0]])
    return pd.concat(rows, ignore_index=True)


#: ``--against`` groups and the reference purposes they cover.
AGAINST_GROUPS = {
    "transplant": ("transplant",),
    "oncology": ("oncology",),
    "tsc": ("tsc",),
    "lam": ("lam",),
    "ageing": ("ageing-trial", "planned-ageing-trial"),
    "all": ("transplant", "oncology", "tsc", "lam", "ageing-trial", "planned-ageing-trial"),
}
#: Metrics the user's regimens are compared on (ratio user / reference).
RATIO_METRICS = {"auc168_ng_h_ml": "AUC168", "cavg_ng_ml": "Cavg", "cmax_ng_ml": "Cmax",
                 "ctrough_ng_ml": "Ctrough"}


def _repeating(reg: Regimen) -> Regimen:
    """The regimen with its last repeating part made indefinite (a trial's steady state)."""
    from dataclasses import replace

    last = reg.blocks[-1]
    if last.is_single or last.is_indefinite:
        return reg
    blocks = reg.blocks[:-1] + (replace(last, n_doses=None, duration_h=None),)
    return replace(reg, blocks=blocks)


def parse_against(text: str | Sequence[str]) -> tuple[str, ...]:
    """'transplant,ageing' -> reference purposes; unknown groups raise."""
    items = text.split(",") if isinstance(text, str) else list(text)
    purposes: list[str] = []
    for item in (i.strip().lower() for i in items if i.strip()):
        if item not in AGAINST_GROUPS:
            raise PkdoseError(f"unknown reference group {item!r}; choose from "
                              f"{', '.join(AGAINST_GROUPS)}")
        purposes += [p for p in AGAINST_GROUPS[item] if p not in purposes]
    if not purposes:
        raise PkdoseError("give at least one reference group, e.g. --against transplant,ageing")
    return tuple(purposes)


def reference_rows(purposes: Sequence[str], drugs: Sequence[str], subjects=None
                   ) -> tuple[pd.DataFrame, list]:
    """Steady-state exposure of the systemic references of these purposes and drugs.

    Trials of fixed length are compared at the steady state of their repeating dose (after
    6 weeks of weekly or daily dosing the shipped models are within a few percent of it);
    each reference runs with its own co-medication and the drug's default model.
    """
    import warnings

    from pkdose import references
    from pkdose.errors import ExtrapolationWarning

    rows, refs = [], []
    for name in references.load()["name"]:
        ref = references.get(name)
        if (ref.purpose not in purposes or ref.drug not in drugs or not ref.systemic
                or ref.species != "human"):
            continue
        with warnings.catch_warnings():
            # Reference regimens are the published ones; their extrapolation warnings
            # would bury the user's own.
            warnings.simplefilter("ignore", ExtrapolationWarning)
            df = regimen_exposure(_repeating(ref.regimen), None, subjects,
                                  with_=ref.comedication, with_pd=True)
        df.insert(0, "reference", ref.name)
        df.insert(1, "purpose", ref.purpose)
        rows.append(df.iloc[[0]])
        refs.append(ref)
    if not rows:
        return pd.DataFrame(), []
    return pd.concat(rows, ignore_index=True), refs


def against(user: pd.DataFrame, purposes: Sequence[str], subjects=None
            ) -> dict[str, pd.DataFrame]:
    """Place the user's regimens (rows of :func:`compare`) among reference regimens.

    Returns
    -------
    dict of DataFrames
        ``references``: the reference rows (same columns as ``compare`` plus reference and
        purpose); ``ratios``: one row per (user regimen, same-drug reference) with
        user/reference ratios of AUC168, Cavg, Cmax and Ctrough and their log-distance;
        ``nearest``: per user regimen the reference closest in exposure (smallest root-mean-
        square log ratio over those four metrics); ``targets``: the user's Ctrough against
        every target range of the chosen references of its drug (below / within / above).
    """
    from pkdose import references

    drugs = sorted(set(user["drug"]))
    refs_df, _ = reference_rows(purposes, drugs, subjects)
    ratio_rows = []
    for _, u in user.iterrows():
        same = refs_df[refs_df["drug"] == u["drug"]] if len(refs_df) else refs_df
        for _, r in same.iterrows():
            row = {"regimen": u["regimen"], "comedication": u.get("comedication", ""),
                   "reference": r["reference"], "purpose": r["purpose"],
                   "reference_regimen": r["regimen"]}
            logs = []
            for col, label in RATIO_METRICS.items():
                ratio = float(u[col]) / float(r[col]) if r[col] > 0 else np.inf
                row[f"{label}_ratio"] = ratio
                if np.isfinite(ratio) and ratio > 0:
                    logs.append(np.log(ratio) ** 2)
            row["log_distance"] = float(np.sqrt(np.mean(logs))) if logs else np.inf
            ratio_rows.append(row)
    ratios = pd.DataFrame(ratio_rows)
    nearest = (ratios.loc[ratios.groupby("regimen", sort=False)["log_distance"].idxmin()]
               .reset_index(drop=True) if len(ratios) else ratios)
    target_rows = []
    tg = references.targets()
    tg = tg[tg["purpose"].isin(purposes) & (tg["metric"] == "ctrough")]
    for _, u in user.iterrows():
        for _, t in tg[tg["drug"] == u["drug"]].iterrows():
            trough = float(u["ctrough_ng_ml"])
            hi = t["high"] if pd.notna(t["high"]) else np.inf
            where = "below" if trough < t["low"] else ("above" if trough > hi else "within")
            target_rows.append({"regimen": u["regimen"], "ctrough_ng_ml": trough,
                                "reference": t["reference"], "kind": t["kind"],
                                "low_ng_ml": t["low"], "high_ng_ml": t["high"],
                                "position": where, "applies_to": t["applies_to"]})
    return {"references": refs_df, "ratios": ratios, "nearest": nearest,
            "targets": pd.DataFrame(target_rows)}
