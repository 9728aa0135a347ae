"""mTOR pharmacodynamics: mTORC1 engagement and a calibrated mTORC2 verdict with reasons.

Model (``docs/mtorc2.md``; parameters in ``pkdose/data/mtor_pd.toml``), driven by the
whole-blood concentration C(t) (ng/mL, sirolimus-equivalent):

* effect site:  dCe/dt = ke0 (C - Ce)
* mTORC1:       I1 = Imax1 Ce^n1 / (EC50_1^n1 + Ce^n1)
* mTORC2:       dM2/dt = k2 ((1 - Imax2 S2(Ce)) - M2),  S2 = Ce^n2 / (IC50_2^n2 + Ce^n2)

M2 is the assembled mTORC2 fraction in a sensitive tissue; it falls only as fast as the
complex turns over, which is why intermittent dosing can spare it. Both first-order
equations are integrated exactly for a piecewise-linear input on the grid (a linear
recurrence, so a periodic steady state is solved in closed form, not by running cycles).

The verdict is a research hypothesis, not a clinical prediction.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from importlib import resources

import numpy as np
import pandas as pd
from scipy import signal

from pkdose import exposure
from pkdose.errors import PkdoseError
from pkdose.regimen import HOURS_PER_WEEK, Regimen, block_starts, compile_trains

LABELS = ("spared", "equivocal", "inhibited")
#: Grid step for PD (h): the recurrences are exact for piecewise-linear input, so the
#: only error is the linear interpolation of C and of the Hill drive between points.
PD_STEP_H = 0.05


@dataclass(frozen=True)
class PDParams:
    """mTOR PD parameters (whole-blood ng/mL, hours)."""

    t_half_e0_h: float
    ec50_1_ng_ml: float
    imax_1: float
    n_1: float
    ic50_2_ng_ml: float
    imax_2: float
    n_2: float
    t_half_m2_h: float

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise PkdoseError(f"PD parameter {f.name} must be a positive number, got {v!r}")
        if self.imax_1 > 1 or self.imax_2 > 1:
            raise PkdoseError("Imax values are fractions and cannot exceed 1")

    def with_(self, **kw: float) -> PDParams:
        """A copy with some values replaced."""
        unknown = set(kw) - {f.name for f in fields(self)}
        if unknown:
            raise PkdoseError(f"unknown PD parameter(s) {', '.join(sorted(unknown))}")
        return replace(self, **kw)


def _data() -> dict:
    with resources.files("pkdose.data").joinpath("mtor_pd.toml").open("rb") as fh:
        return tomllib.load(fh)


def load_pd(which: str = "fitted") -> PDParams:
    """PD parameters: ``"fitted"`` (calibrated; what users get) or ``"proposed"``."""
    raw = _data()
    if which not in ("fitted", "proposed"):
        raise PkdoseError("PD parameter set must be 'fitted' or 'proposed'")
    values = dict(raw["proposed"])
    if which == "fitted":
        values.update({k: v for k, v in raw.get("fitted", {}).items()
                       if k in PDParams.__dataclass_fields__})
    return PDParams(**{k: float(values[k]) for k in PDParams.__dataclass_fields__})


def settings() -> dict:
    """Verdict thresholds, rule thresholds, human turnover range, drug multipliers."""
    raw = _data()
    return {"verdict": raw["verdict"], "rules": raw["rules"],
            "human_t_half_m2_h": tuple(raw["human"]["t_half_m2_h_range"]),
            "drug_multiplier": {k: v for k, v in raw["drug_multiplier"].items()
                                if isinstance(v, (int, float))}}


# --- exact first-order filters ------------------------------------------------------------


def first_order_response(x: np.ndarray, rate: float, step_h: float,
                         y0: float | np.ndarray | None = None) -> np.ndarray:
    """Solve dy/dt = rate (x(t) - y) on a uniform grid, x piecewise linear between points.

    Exact for that input: y[i+1] = a y[i] + b0 x[i] + b1 x[i+1], a = exp(-rate h).
    ``y0`` is the value at the first point; ``None`` gives the periodic solution (the
    grid spans one period, first and last points the same time modulo the period).
    Vectorised over leading axes.
    """
    x = np.asarray(x, float)
    kh = rate * step_h
    a = math.exp(-kh)
    one_minus_a = -math.expm1(-kh)
    # b1 = 1 - (1 - a)/kh = (kh - 1 + a)/kh, by its series when kh is small: the closed
    # form cancels there, and the periodic solution divides by 1 - a^N ~ N kh.
    if kh < 0.1:
        b1 = sum((-kh) ** j / math.factorial(j + 2) for j in range(12)) * kh
    else:
        b1 = 1.0 - one_minus_a / kh
    b0 = one_minus_a - b1
    drive = b0 * x[..., :-1] + b1 * x[..., 1:]
    n_steps = drive.shape[-1]
    if y0 is None:
        # Periodic: y_N = a^N y_0 + sum_i a^(N-1-i) drive_i and y_N = y_0.
        zero_run = signal.lfilter([1.0], [1.0, -a], drive, axis=-1)[..., -1]
        # 1 - a^N from kh directly: log(a) has lost digits when kh is tiny.
        start = zero_run / (-math.expm1(-n_steps * kh))
    else:
        start = np.broadcast_to(np.asarray(y0, float), x.shape[:-1])
    zi = (a * np.asarray(start))[..., None]
    rest = signal.lfilter([1.0], [1.0, -a], drive, axis=-1, zi=zi)[0]
    return np.concatenate([np.asarray(start)[..., None] * np.ones(x.shape[:-1] + (1,)), rest],
                          axis=-1)


def hill(c: np.ndarray, c50: float, n: float) -> np.ndarray:
    """c^n / (c50^n + c^n), exact 0 at c = 0."""
    r = (np.maximum(c, 0.0) / c50) ** n
    return r / (1.0 + r)


def pd_curves(conc: np.ndarray, step_h: float, params: PDParams, periodic: bool = False
              ) -> dict[str, np.ndarray]:
    """Effect-site concentration, mTORC1 inhibition and mTORC2 fraction on the grid.

    ``conc`` (T,) or (n, T): whole-blood sirolimus-equivalent ng/mL on a uniform grid
    starting at the first dose (drug-free start: Ce = 0, M2 = 1) or, with ``periodic``,
    spanning one steady-state period.
    """
    ke0 = math.log(2) / params.t_half_e0_h
    ce = first_order_response(conc, ke0, step_h, None if periodic else 0.0)
    ce = np.maximum(ce, 0.0)
    i1 = params.imax_1 * hill(ce, params.ec50_1_ng_ml, params.n_1)
    return {"ce_ng_ml": ce, "mtorc1_inhibition": i1,
            "mtorc2_fraction": mtorc2_fraction(ce, step_h, params, periodic)}


def mtorc2_fraction(ce: np.ndarray, step_h: float, params: PDParams, periodic: bool = False
                    ) -> np.ndarray:
    """Assembled mTORC2 fraction from the effect-site curve ``ce`` of :func:`pd_curves`.

    On its own so that other turnover half-lives (``params.with_(t_half_m2_h=...)``) reuse
    one effect-site curve.
    """
    k2 = math.log(2) / params.t_half_m2_h
    target = 1.0 - params.imax_2 * hill(ce, params.ic50_2_ng_ml, params.n_2)
    return first_order_response(target, k2, step_h, None if periodic else 1.0)


def curve_pd(drug: str, curve: pd.DataFrame) -> pd.DataFrame:
    """mTOR PD along a simulated curve from a drug-free start, for plot panels.

    Parameters
    ----------
    drug : str
        The regimen's drug (its sirolimus-equivalent multiplier is applied).
    curve : DataFrame
        A uniform-grid curve with ``time_h`` and ``conc_ng_ml`` (from ``simulate``).

    Returns
    -------
    DataFrame
        ``time_h``, ``ce_ng_ml``, ``mtorc1_inhibition`` and ``mtorc2_fraction`` at the
        middle of the prior range of the unknown human mTORC2 turnover half-life.
    """
    t = curve["time_h"].to_numpy()
    cfg = settings()
    mult = cfg["drug_multiplier"].get(drug, 1.0)
    halves = cfg["human_t_half_m2_h"]
    params = load_pd().with_(t_half_m2_h=halves[len(halves) // 2])
    cur = pd_curves(curve["conc_ng_ml"].to_numpy() * mult, float(t[1] - t[0]), params)
    return pd.DataFrame({"time_h": t, **cur})


# --- verdicts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """mTORC2 verdict for one regimen and subject, with reasons and the numbers behind it."""

    regimen: str
    label: str
    reasons: tuple[str, ...]
    model_labels: Mapping[float, str]
    rule_label: str
    metrics: Mapping[str, float]

    def text(self) -> str:
        """One paragraph: the label and its reasons."""
        return f"{self.label}: " + "; ".join(self.reasons)


def _label_from_m2(mean_m2: float, min_m2: float, v: Mapping) -> str:
    if mean_m2 < v["inhibited_mean_below"]:
        return "inhibited"
    if mean_m2 >= v["spared_mean_at_least"] and min_m2 >= v["spared_min_at_least"]:
        return "spared"
    return "equivocal"


def _rule_label(trough: float, h_above_week: float, longest_below: float,
                h_above_spare_week: float, r: Mapping) -> tuple[str, str]:
    if trough >= r["inhibited_trough_at_least_ng_ml"]:
        return "inhibited", (f"trough {trough:.2g} ng/mL stays at or above the "
                             f"{r['inhibited_trough_at_least_ng_ml']:g} ng/mL rule")
    if h_above_week >= r["inhibited_hours_above_per_week"]:
        return "inhibited", (f"{h_above_week:.0f} h/week above {r['inhibited_above_ng_ml']:g} "
                             f"ng/mL (rule: >= {r['inhibited_hours_above_per_week']:g} h)")
    if (longest_below >= r["spared_continuous_hours_below"]
            and h_above_spare_week <= r["spared_max_hours_above_per_week"]):
        run = ("always below" if math.isinf(longest_below)
               else f"{longest_below:.0f} h in a row below")
        return "spared", (f"{run} {r['spared_below_ng_ml']:g} ng/mL per cycle and "
                          f"{h_above_spare_week:.0f} h/week above "
                          f"{r['spared_above_ng_ml']:g} ng/mL (rules: >= "
                          f"{r['spared_continuous_hours_below']:g} h, <= "
                          f"{r['spared_max_hours_above_per_week']:g} h)")
    return "equivocal", (f"trough {trough:.2g} ng/mL, {longest_below:.0f} h in a row below "
                         f"{r['spared_below_ng_ml']:g} ng/mL, {h_above_week:.0f} h/week above "
                         f"{r['inhibited_above_ng_ml']:g} ng/mL: between the rules")


def _pct_span(values: list[float]) -> str:
    lo, hi = f"{100 * min(values):.0f}", f"{100 * max(values):.0f}"
    return f"{lo} %" if lo == hi else f"{lo}-{hi} %"


def _grid(length_h: float) -> np.ndarray:
    n_int = max(2, int(math.ceil(length_h / PD_STEP_H)))
    n_int += n_int % 2
    return np.linspace(0.0, length_h, n_int + 1)


@dataclass(frozen=True)
class Profile:
    """A concentration profile ready for judging: sirolimus-equivalent whole blood."""

    regimen: str
    t: np.ndarray
    conc: np.ndarray
    periodic: bool
    duration_h: float
    window: tuple[int, int]
    basis: str
    multiplier: float = 1.0


def steady_state_profile(reg: Regimen, t: np.ndarray, conc_ng_ml: np.ndarray) -> Profile:
    """Profile of one steady-state cycle already computed on the grid ``t`` (whole blood)."""
    mult = settings()["drug_multiplier"].get(reg.drug, 1.0)
    return Profile(str(reg), t, np.asarray(conc_ng_ml, float) * mult, True, math.inf,
                   (0, t.size), f"steady-state cycle ({float(t[-1] - t[0]):g} h)", mult)


def regimen_profile(regimen, model=None, subjects=None, params=None, with_=(),
                    prep=None) -> Profile:
    """The PK profile a verdict is judged on (first subject; see :func:`regimen_pd`).

    ``prep`` (:func:`pkdose.simulate.prepare`) replaces model, subjects, params and with_,
    e.g. for an individual's estimated parameters.
    """
    from pkdose.simulate import (
        as_regimen,
        check_extrapolation,
        concentrations,
        prepare,
        resolve_model,
        steady_state_concentrations,
        steady_state_trains,
    )

    reg: Regimen = as_regimen(regimen)
    if prep is None:
        m = resolve_model(reg, model, params)
        prep = prepare(m, subjects, with_=with_)
        check_extrapolation(m, reg, prep.cov)
    cfg = settings()
    mult = cfg["drug_multiplier"].get(reg.drug, 1.0)
    if reg.is_indefinite:
        _, period, _ = steady_state_trains(reg)
        t = _grid(period)
        return steady_state_profile(reg, t, steady_state_concentrations(prep, reg, t)
                                    ["conc_ng_ml"][0])
    end = block_starts(reg)[-1]
    if not math.isfinite(end):  # ends with a one-off dose: follow it for a week
        end = max(tr.last_h for tr in compile_trains(reg)) + HOURS_PER_WEEK
    t = _grid(end)
    conc = concentrations(prep, compile_trains(reg), t)["conc_ng_ml"][0] * mult
    first = int(np.searchsorted(t, max(0.0, end - cfg["verdict"]["window_h"]) - 1e-9))
    basis = (f"last {min(end, cfg['verdict']['window_h']) / 24:g} days of the "
             f"{end / 24:g}-day regimen")
    return Profile(str(reg), t, conc, False, end, (first, t.size), basis, mult)


def constant_profile(label: str, conc_ng_ml: float) -> Profile:
    """A constant concentration at steady state (e.g. a continuous diet)."""
    t = _grid(HOURS_PER_WEEK)
    return Profile(label, t, np.full(t.size, float(conc_ng_ml)), True, math.inf, (0, t.size),
                   "steady state (constant concentration)")


def regimen_pd(regimen, model=None, subjects=None, params=None,
               pd_params: PDParams | None = None, species: str = "human", with_=()
               ) -> tuple[Verdict, pd.DataFrame]:
    """mTOR verdict and PD curves for one regimen (typical subject or the first subject).

    Indefinite regimens are judged over one cycle of the exact periodic steady state;
    regimens that stop over their last week (or whole length if shorter). For humans the
    verdict is computed at every turnover half-life of the prior range and reported as
    ``equivocal`` when they disagree; regimens shorter than the onset time (14 days)
    cannot be called ``inhibited``.

    Returns
    -------
    (Verdict, DataFrame)
        Curves over the evaluation window: time_h, conc_ng_ml, ce_ng_ml,
        mtorc1_inhibition, mtorc2_fraction (at the central turnover half-life).
    """
    return judge(regimen_profile(regimen, model, subjects, params, with_), pd_params, species)


def judge(profile: Profile, pd_params: PDParams | None = None, species: str = "human"
          ) -> tuple[Verdict, pd.DataFrame]:
    """Verdict and PD curves for a prepared profile (see :func:`regimen_pd`)."""
    pd_params = pd_params or load_pd()
    cfg = settings()
    t, conc, periodic, duration_h = profile.t, profile.conc, profile.periodic, profile.duration_h
    window, basis, mult = profile.window, profile.basis, profile.multiplier
    step = float(t[1] - t[0])
    halves = cfg["human_t_half_m2_h"] if species == "human" else (pd_params.t_half_m2_h,)
    labels: dict[float, str] = {}
    m2_stats: dict[float, tuple[float, float]] = {}
    central_curves = None
    lo, hi = window
    tw = t[lo:hi] - t[lo]
    for th in halves:
        cur = pd_curves(conc, step, pd_params.with_(t_half_m2_h=th), periodic)
        m2 = cur["mtorc2_fraction"][lo:hi]
        # The metrics' Cavg is a Simpson time-average; here it averages a fraction.
        mean_m2 = float(exposure.interval_metrics(tw, m2, above=(), below=(),
                                                  periodic=False)["cavg_ng_ml"])
        m2_stats[th] = (mean_m2, float(m2.min()))
        labels[th] = _label_from_m2(mean_m2, float(m2.min()), cfg["verdict"])
        if central_curves is None or th == halves[len(halves) // 2]:
            central_curves = cur
    cw = conc[lo:hi]
    above = sorted({cfg["rules"]["inhibited_above_ng_ml"], cfg["rules"]["spared_above_ng_ml"]})
    em = exposure.interval_metrics(tw, cw, above=above,
                                   below=(cfg["rules"]["spared_below_ng_ml"],),
                                   periodic=periodic)
    span = float(tw[-1])
    per_week = HOURS_PER_WEEK / span
    col = exposure.METRICS["Tabove"].column_for
    rules = cfg["rules"]
    h_inh = float(em[col(rules["inhibited_above_ng_ml"])]) * per_week
    h_spare = float(em[col(rules["spared_above_ng_ml"])]) * per_week
    longest = float(em[exposure.METRICS["Tbelow_longest"].column_for(rules["spared_below_ng_ml"])])
    trough = float(em["cmin_ng_ml"])
    # A steady-state cycle spent entirely below the threshold is an endless run, not one
    # cycle long (a daily cycle can never contain 72 h otherwise).
    always_below = periodic and bool(np.all(cw < rules["spared_below_ng_ml"]))
    rule_label, rule_reason = _rule_label(trough, h_inh, math.inf if always_below else longest,
                                          h_spare, rules)

    i1 = central_curves["mtorc1_inhibition"][lo:hi]
    i1m = exposure.interval_metrics(tw, i1, above=(0.5,), below=(), periodic=False)
    mean_i1 = float(i1m["cavg_ng_ml"])
    frac_i1 = float(i1m[col(0.5)]) / span

    distinct = sorted(set(labels.values()), key=LABELS.index)
    reasons = []
    means = [m2_stats[th][0] for th in halves]
    mins = [m2_stats[th][1] for th in halves]
    th_text = (f"a {halves[0]:g}-{halves[-1]:g} h mTORC2 turnover half-life"
               if len(halves) > 1 else f"a {halves[0]:g} h mTORC2 turnover half-life")
    reasons.append(f"predicted assembled mTORC2 averages {_pct_span(means)} (lowest "
                   f"{_pct_span(mins)}) over the {basis} at {th_text}")
    v = cfg["verdict"]
    if len(distinct) == 1:
        label = distinct[0]
        reasons.append({
            "inhibited": f"below the {100 * v['inhibited_mean_below']:.0f} % line",
            "spared": (f"at or above {100 * v['spared_mean_at_least']:.0f} % on average and "
                       f"{100 * v['spared_min_at_least']:.0f} % at its lowest"),
            "equivocal": "between the spared and inhibited lines",
        }[label])
    else:
        label = "equivocal"
        per = ", ".join(f"{labels[th]} at {th:g} h" for th in halves)
        reasons.append(f"the verdict depends on the unknown human turnover half-life ({per})")
    reasons.append(f"threshold rules: {rule_label} ({rule_reason})")
    too_short = not periodic and duration_h < v["onset_days"] * 24
    if too_short and "inhibited" in (label, rule_label):
        label = "equivocal" if label == "inhibited" else label
        rule_label = "equivocal" if rule_label == "inhibited" else rule_label
        reasons.append(f"the regimen lasts {duration_h / 24:g} days, shorter than the "
                       f"{v['onset_days']:g}-day onset of mTORC2 loss, so neither the model "
                       "nor the rules call it inhibited")
    if rule_label != label:
        reasons.append("the turnover model and the threshold rules disagree")
    reasons.append(f"mTORC1 inhibition averages {100 * mean_i1:.0f} % and exceeds 50 % for "
                   f"{100 * frac_i1:.0f} % of the time")
    metrics = {
        "mtorc1_mean": mean_i1, "mtorc1_frac_above_50": frac_i1,
        "mtorc1_min": float(i1.min()),
        "mtorc2_mean": float(np.median(means)), "mtorc2_min": float(np.median(mins)),
        "mtorc2_mean_lowest": float(min(means)), "trough_ng_ml": trough,
        "hours_above_4_per_week": h_inh, "longest_below_1_h": longest,
    }
    verdict = Verdict(profile.regimen, label, tuple(reasons), dict(labels), rule_label, metrics)
    curves = pd.DataFrame({"time_h": t[lo:hi], "conc_ng_ml": cw / mult,
                           **{k: v_[lo:hi] for k, v_ in central_curves.items()}})
    return verdict, curves
