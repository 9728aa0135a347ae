"""mTOR pharmacodynamics: mTORC1 engagement and a calibrated mTORC2 verdict with reasons.

Model (``docs/mtorc2.md``; parameters in ``pkdose/data/mtor_pd.toml``), driven by the
whole-blood concentration C(t) (ng/mL, sirolimus-equivalent):

* effect site:  dCe/dt = ke0 (C - Ce)                       (metabolic tissue, hours)
* engagement:   dCc1/dt = kc1 (C - Cc1)                     (blood cells and tissue, days)
* mTORC1:       I1 = Imax1 Cc1^n1 / (EC50_1^n1 + Cc1^n1)
* mTORC2:       dM2/dt = k2 ((1 - Imax2 S2(Ce)) - M2),  S2 = Ce^n2 / (IC50_2^n2 + Ce^n2)

M2 is the assembled mTORC2 fraction in a sensitive tissue; it falls only as fast as the
complex turns over, which is why intermittent dosing can spare it. Cc1 is the
drug engaged in the cells where mTORC1 is read (PBMC, skin, tumour): its half-life of
days is why S6K1 stays inhibited for a week after a weekly dose while blood levels are
gone. At a constant concentration Cc1 = Ce = C, so the steady-state potencies keep their
meaning. Every first-order equation is integrated exactly for a piecewise-linear input on
the grid (a linear recurrence, so a periodic steady state is solved in closed form, not
by running cycles).

The verdict is a research hypothesis, not a clinical prediction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cache

import numpy as np

from pkdose import exposure
from pkdose.data import load_toml
from pkdose.errors import PkdoseError
from pkdose.regimen import HOURS_PER_WEEK

LABELS = ("spared", "equivocal", "inhibited")
#: Grid step for PD (h): the recurrences are exact for piecewise-linear input, so the
#: only error is the linear interpolation of C and of the Hill drive between points.
PD_STEP_H = 0.05


@dataclass(frozen=True)
class PDParams:
    """mTOR PD parameters (whole-blood ng/mL, hours)."""

    t_half_e0_h: float
    t_half_c1_h: float
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


@cache
def load_pd(which: str = "fitted") -> PDParams:
    """PD parameters: ``"fitted"`` (calibrated; what users get) or ``"proposed"``."""
    raw = load_toml("mtor_pd.toml")
    if which not in ("fitted", "proposed"):
        raise PkdoseError("PD parameter set must be 'fitted' or 'proposed'")
    # The fitted table also says how it was fitted; only the parameters are read.
    values = {**raw["proposed"], **(raw.get("fitted", {}) if which == "fitted" else {})}
    return PDParams(**{k: float(values[k]) for k in PDParams.__dataclass_fields__})


@cache
def settings() -> Mapping:
    """Verdict thresholds, rule thresholds, human turnover range, drug multipliers."""
    raw = load_toml("mtor_pd.toml")
    return {"verdict": raw["verdict"], "rules": raw["rules"],
            "human_t_half_m2_h": tuple(raw["human"]["t_half_m2_h_range"]),
            "drug_multiplier": {k: v for k, v in raw["drug_multiplier"].items()
                                if isinstance(v, (int, float))},
            "species_evidence": raw.get("species_evidence", {})}


def species_evidence(species: str) -> Mapping | None:
    """A species' own mTORC2 evidence that overrides the model's label (verdict, reason,
    source), or None where the model's label stands."""
    return settings()["species_evidence"].get(species)


def with_species_evidence(labels: np.ndarray, species: str) -> np.ndarray:
    """Labels as the species' own evidence has them (unchanged where there is none)."""
    ev = species_evidence(species)
    return labels if ev is None else np.full(np.shape(labels), ev["verdict"], dtype=object)


# --- exact first-order filters ------------------------------------------------------------


#: The recurrence is summed in chunks over which a^-k grows by at most 2^GROWTH_BITS:
#: for a non-negative drive (every drive pkdose passes) the terms share one sign and the
#: relative error stays ~chunk length x machine epsilon; a mixed-sign drive can lose up
#: to this many bits to cancellation.
GROWTH_BITS = 20


def linear_recurrence(drive: np.ndarray, kh: float, start) -> np.ndarray:
    """y_0 = start, y_(i+1) = exp(-kh) y_i + drive_i, along the last axis.

    Closed form per chunk, y_(c+k) = a^k (y_c + sum_(j<k) a^-(j+1) drive_(c+j)), with one
    cumulative sum: plain numpy (scipy.signal.lfilter costs most of a second to import),
    vectorised over leading axes and, row by row, independent of how many rows there are.
    """
    drive = np.asarray(drive, float)
    n_steps = drive.shape[-1]
    out = np.empty(drive.shape[:-1] + (n_steps + 1,))
    y = np.broadcast_to(np.asarray(start, float), drive.shape[:-1])
    out[..., 0] = y
    if n_steps == 0:
        return out
    chunk = max(1, min(n_steps, int(GROWTH_BITS * math.log(2) / kh) if kh > 0 else n_steps))
    k = np.arange(1, chunk + 1)
    up, down = np.exp(k * kh), np.exp(-k * kh)
    for c in range(0, n_steps, chunk):
        m = min(chunk, n_steps - c)
        acc = np.cumsum(drive[..., c:c + m] * up[:m], axis=-1)
        acc += y[..., None]
        acc *= down[:m]
        out[..., c + 1:c + 1 + m] = acc
        y = acc[..., -1]
    return out


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
    one_minus_a = -math.expm1(-kh)
    # b1 = 1 - (1 - a)/kh = (kh - 1 + a)/kh, by its series when kh is small: the closed
    # form cancels there, and the periodic solution divides by 1 - a^N ~ N kh.
    if kh < 0.1:
        b1 = sum((-kh) ** j / math.factorial(j + 2) for j in range(12)) * kh
    else:
        b1 = 1.0 - one_minus_a / kh
    b0 = one_minus_a - b1
    drive = b0 * x[..., :-1] + b1 * x[..., 1:]
    if y0 is None:
        # Periodic: y_N = a^N y_0 + sum_i a^(N-1-i) drive_i and y_N = y_0.
        zero_run = linear_recurrence(drive, kh, 0.0)[..., -1]
        # 1 - a^N from kh directly: log(a) has lost digits when kh is tiny.
        y0 = zero_run / (-math.expm1(-drive.shape[-1] * kh))
    return linear_recurrence(drive, kh, y0)


def hill(c: np.ndarray, c50: float, n: float) -> np.ndarray:
    """c^n / (c50^n + c^n), exact 0 at c = 0."""
    r = (np.maximum(c, 0.0) / c50) ** n
    return r / (1.0 + r)


def rate_of(half_life_h: float) -> float:
    """First-order rate constant (1/h) of a half-life (h)."""
    return math.log(2) / half_life_h


def mtorc1_inhibition(cc1: np.ndarray, params: PDParams) -> np.ndarray:
    """mTORC1 (S6K1/S6) inhibition from the engagement-site concentration Cc1."""
    return params.imax_1 * hill(cc1, params.ec50_1_ng_ml, params.n_1)


def curve_pd(drug: str, curve, species: str = "human"):
    """mTOR PD along a simulated curve from a drug-free start, for plot panels.

    Parameters
    ----------
    drug : str
        The regimen's drug (its sirolimus-equivalent multiplier is applied).
    curve : DataFrame
        A uniform-grid curve with ``time_h`` and ``conc_ng_ml`` (from ``simulate``).
    species : str
        Whose mTORC2 turnover: the middle of the human prior range, or the species' own
        value, as the verdict is judged (:func:`half_lives_for`).

    Returns
    -------
    DataFrame
        ``time_h``, ``ce_ng_ml``, ``cc1_ng_ml``, ``mtorc1_inhibition`` and
        ``mtorc2_fraction``; ``attrs["t_half_m2_h"]`` is the turnover half-life used.
    """
    import pandas as pd

    t = curve["time_h"].to_numpy()
    mult = settings()["drug_multiplier"].get(drug, 1.0)
    params = load_pd()
    halves = half_lives_for(species, params)
    params = params.with_(t_half_m2_h=halves[len(halves) // 2])
    cur = pd_curves(curve["conc_ng_ml"].to_numpy() * mult, float(t[1] - t[0]), params)
    out = pd.DataFrame({"time_h": t, **cur})
    out.attrs["t_half_m2_h"] = float(params.t_half_m2_h)
    return out


# --- the profile a verdict is judged on ---------------------------------------------------


@dataclass(frozen=True)
class MtorProfile:
    """Whole-blood concentration (sirolimus-equivalent ng/mL) as the PD model reads it.

    The verdict window is ``conc`` (n, W) on a uniform grid of ``step_h``. It is either
    one cycle of a periodic steady state (``periodic``), or the end of a course that
    started drug free: then ``lead`` (n, A) on its own uniform grid of ``lead_step_h``
    runs from the first dose to the window start (None when the window starts at the
    first dose), and ``duration_h`` is the time from the first dose to the window end.
    """

    conc: np.ndarray
    step_h: float
    periodic: bool
    duration_h: float
    basis: str
    lead: np.ndarray | None = None
    lead_step_h: float = 0.0
    start_h: float = 0.0

    @property
    def time_h(self) -> np.ndarray:
        """Times of the window grid: in the cycle, or from the first dose."""
        return self.start_h + self.step_h * np.arange(self.conc.shape[-1])


def constant_profile(conc_ng_ml, label: str = "steady state (constant concentration)"
                     ) -> MtorProfile:
    """A constant concentration held for good (e.g. a continuous diet), per subject."""
    c = np.atleast_1d(np.asarray(conc_ng_ml, float))
    n_int = int(HOURS_PER_WEEK / PD_STEP_H)
    return MtorProfile(np.repeat(c[:, None], n_int + 1, axis=1), PD_STEP_H, True, math.inf,
                       label)


def _through(x_lead: np.ndarray | None, x: np.ndarray, rate: float, profile: MtorProfile,
             start: float) -> tuple[np.ndarray, np.ndarray | None]:
    """First-order response over the lead (from ``start``), then over the window."""
    if profile.periodic:
        return first_order_response(x, rate, profile.step_h, None), None
    if x_lead is None:
        return first_order_response(x, rate, profile.step_h, start), None
    y_lead = first_order_response(x_lead, rate, profile.lead_step_h, start)
    return first_order_response(x, rate, profile.step_h, y_lead[..., -1]), y_lead


@dataclass(frozen=True)
class MtorResponse:
    """mTOR engagement over a profile's window, per subject (arrays of shape (n,)).

    ``mtorc2_mean`` and ``mtorc2_min`` have one column per turnover half-life
    (``half_lives_h``); ``curves`` are the window curves at the central half-life.
    """

    half_lives_h: tuple[float, ...]
    mtorc1_mean: np.ndarray
    mtorc1_frac_above_50: np.ndarray
    mtorc1_min: np.ndarray
    mtorc2_mean: np.ndarray
    mtorc2_min: np.ndarray
    curves: Mapping[str, np.ndarray]

    @property
    def central(self) -> int:
        """Column of the central turnover half-life."""
        return len(self.half_lives_h) // 2


def half_lives_for(species: str, params: PDParams) -> tuple[float, ...]:
    """Turnover half-lives a verdict is judged at: the human prior range, or the
    species' own (the parameter set's) value."""
    if species == "human":
        return tuple(float(h) for h in settings()["human_t_half_m2_h"])
    return (float(params.t_half_m2_h),)


def site(profile: MtorProfile, half_life_h: float) -> tuple[np.ndarray, np.ndarray | None]:
    """A first-order compartment fed by the whole-blood profile, drug free at the first dose:
    its concentration over the window and over the lead (None without one). The effect site
    Ce has ``t_half_e0_h``, the engagement site Cc1 (what mTORC1 inhibition reads)
    ``t_half_c1_h``."""
    lead = None if profile.lead is None else np.atleast_2d(profile.lead)
    c, c_lead = _through(lead, np.atleast_2d(profile.conc), rate_of(half_life_h), profile, 0.0)
    return np.maximum(c, 0.0), None if c_lead is None else np.maximum(c_lead, 0.0)


def mtorc2_window(profile: MtorProfile, params: PDParams, half_life_h: float,
                  ce: tuple[np.ndarray, np.ndarray | None] | None = None) -> np.ndarray:
    """Assembled mTORC2 fraction over the window at one turnover half-life.

    ``ce`` (the effect site from :func:`site`) lets several half-lives share one curve.
    """
    ce_win, ce_lead = ce if ce is not None else site(profile, params.t_half_e0_h)

    def drive(c: np.ndarray) -> np.ndarray:
        return 1.0 - params.imax_2 * hill(c, params.ic50_2_ng_ml, params.n_2)

    m2, _ = _through(None if ce_lead is None else drive(ce_lead), drive(ce_win),
                     rate_of(half_life_h), profile, 1.0)
    return m2


def respond(profile: MtorProfile, params: PDParams, half_lives_h: Sequence[float]
            ) -> MtorResponse:
    """mTORC1 inhibition and the assembled mTORC2 fraction over the profile's window.

    The effect and engagement sites and M2 start drug free (Ce = Cc1 = 0, M2 = 1) at the
    first dose of the lead, or are periodic for a steady-state cycle. Vectorised over
    subjects; one effect-site curve serves every turnover half-life.
    """
    ce = site(profile, params.t_half_e0_h)
    cc1 = site(profile, params.t_half_c1_h)[0]
    i1 = mtorc1_inhibition(cc1, params)
    halves = tuple(float(h) for h in half_lives_h)
    m2 = [mtorc2_window(profile, params, th, ce) for th in halves]
    t = profile.step_h * np.arange(i1.shape[-1])
    above = exposure.interval_metrics(t, i1, above=(0.5,), below=(), periodic=False)
    # The metrics' Cavg is a Simpson time-average; here it averages a fraction.
    m2_mean = [exposure.interval_metrics(t, m, above=(), below=(), periodic=False)["cavg_ng_ml"]
               for m in m2]
    return MtorResponse(
        halves, above["cavg_ng_ml"],
        above[exposure.METRICS["Tabove"].column_for(0.5)] / float(t[-1]), i1.min(axis=-1),
        np.stack(m2_mean, axis=-1),
        np.stack([m.min(axis=-1) for m in m2], axis=-1),
        {"ce_ng_ml": ce[0], "cc1_ng_ml": cc1, "mtorc1_inhibition": i1,
         "mtorc2_fraction": m2[len(m2) // 2]})


def pd_curves(conc: np.ndarray, step_h: float, params: PDParams, periodic: bool = False
              ) -> dict[str, np.ndarray]:
    """Effect site, engagement site, mTORC1 inhibition and mTORC2 fraction on the grid.

    ``conc`` (T,) or (n, T): whole-blood sirolimus-equivalent ng/mL on a uniform grid
    starting at the first dose (drug-free start: Ce = Cc1 = 0, M2 = 1) or, with
    ``periodic``, spanning one steady-state period; the same chain as :func:`respond`,
    at the parameter set's own turnover half-life. Arrays of the shape of ``conc``.
    """
    c = np.asarray(conc, float)
    profile = MtorProfile(np.atleast_2d(c), step_h, periodic, step_h * (c.shape[-1] - 1), "")
    curves = respond(profile, params, (params.t_half_m2_h,)).curves
    return {k: v.reshape(c.shape) for k, v in curves.items()}


# --- verdicts ---------------------------------------------------------------------------


def labels_from_m2(mean_m2: np.ndarray, min_m2: np.ndarray) -> np.ndarray:
    """The turnover model's label per subject (and half-life) from mean and lowest M2."""
    v = settings()["verdict"]
    spared = (mean_m2 >= v["spared_mean_at_least"]) & (min_m2 >= v["spared_min_at_least"])
    return np.where(mean_m2 < v["inhibited_mean_below"], "inhibited",
                    np.where(spared, "spared", "equivocal")).astype(object)


@dataclass(frozen=True)
class RuleInputs:
    """The threshold rules' numbers over a verdict window, per subject."""

    trough_ng_ml: np.ndarray
    hours_above_inhibited_per_week: np.ndarray
    hours_above_spared_per_week: np.ndarray
    longest_below_h: np.ndarray
    always_below: np.ndarray

    def run_below_h(self) -> np.ndarray:
        """Longest run below, endless for a steady state that never rises above."""
        return np.where(self.always_below, math.inf, self.longest_below_h)


def rule_inputs(profile: MtorProfile) -> RuleInputs:
    """Trough, hours above per week and longest run below of the window (whole blood)."""
    r = settings()["rules"]
    conc = np.atleast_2d(profile.conc)
    t = profile.step_h * np.arange(conc.shape[-1])
    above = sorted({r["inhibited_above_ng_ml"], r["spared_above_ng_ml"]})
    em = exposure.interval_metrics(t, conc, above=above, below=(r["spared_below_ng_ml"],),
                                   periodic=profile.periodic)
    per_week = HOURS_PER_WEEK / float(t[-1])
    col = exposure.METRICS["Tabove"].column_for
    longest = em[exposure.METRICS["Tbelow_longest"].column_for(r["spared_below_ng_ml"])]
    # A steady-state cycle spent entirely below the threshold is an endless run, not one
    # cycle long (a daily cycle could never contain 72 h otherwise).
    always = profile.periodic & np.all(conc < r["spared_below_ng_ml"], axis=-1)
    return RuleInputs(em["cmin_ng_ml"], em[col(r["inhibited_above_ng_ml"])] * per_week,
                      em[col(r["spared_above_ng_ml"])] * per_week, longest, always)


def rule_labels(x: RuleInputs) -> np.ndarray:
    """The threshold rules' label per subject (``docs/mtorc2.md``)."""
    r = settings()["rules"]
    inhibited = ((x.trough_ng_ml >= r["inhibited_trough_at_least_ng_ml"])
                 | (x.hours_above_inhibited_per_week >= r["inhibited_hours_above_per_week"]))
    spared = ((x.run_below_h() >= r["spared_continuous_hours_below"])
              & (x.hours_above_spared_per_week <= r["spared_max_hours_above_per_week"]))
    return np.where(inhibited, "inhibited", np.where(spared, "spared", "equivocal")
                    ).astype(object)


def too_short(profile: MtorProfile) -> bool:
    """A course shorter than the onset of mTORC2 loss is never called inhibited."""
    return not profile.periodic and profile.duration_h < settings()["verdict"]["onset_days"] * 24


def overall_labels(by_half_life: np.ndarray, short: bool) -> np.ndarray:
    """One label per subject: the same at every half-life, else equivocal; never
    ``inhibited`` for a course shorter than the onset."""
    first = by_half_life[:, 0]
    same = np.all(by_half_life == first[:, None], axis=1)
    out = np.where(same, first, "equivocal").astype(object)
    return never_inhibited(out) if short else out


def never_inhibited(labels: np.ndarray) -> np.ndarray:
    """``inhibited`` read as ``equivocal`` (courses shorter than the onset)."""
    return np.where(labels == "inhibited", "equivocal", labels).astype(object)


@dataclass(frozen=True)
class Verdict:
    """mTORC2 verdict for one regimen and subject, with reasons and the numbers behind it.

    ``model_labels`` are the turnover model's labels by turnover half-life (h);
    ``pk_model_labels`` the verdict under each PK model valid for the regimen, its own
    model first (empty when not asked, see :meth:`with_pk_models`).
    """

    regimen: str
    label: str
    reasons: tuple[str, ...]
    model_labels: Mapping[float, str]
    rule_label: str
    metrics: Mapping[str, float]
    pk_model_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def pk_models_disagree(self) -> bool:
        """True when the PK models valid for the regimen give different verdicts."""
        return len(set(self.pk_model_labels.values())) > 1

    def with_pk_models(self, labels: Mapping[str, str]) -> Verdict:
        """A copy with the verdict under each PK model (own model first) and, with two or
        more, a last reason saying whether they agree."""
        labels = dict(labels)
        if len(labels) < 2:
            return replace(self, pk_model_labels=labels)
        if len(set(labels.values())) > 1:
            reason = "models disagree: " + ", ".join(f"{m} {v}" for m, v in labels.items())
        else:
            reason = f"every PK model valid for the regimen agrees ({', '.join(labels)})"
        return replace(self, reasons=(*self.reasons, reason), pk_model_labels=labels)

    def text(self) -> str:
        """One paragraph: the label and its reasons."""
        return f"{self.label}: " + "; ".join(self.reasons)

    def to_text(self) -> str:
        """The regimen and label on one line, then one reason per line."""
        return f"{self.regimen}: {self.label}\n" + "".join(f"  - {r}\n" for r in self.reasons)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"regimen": self.regimen, "verdict": self.label,
                "rule_verdict": self.rule_label, "reasons": list(self.reasons),
                "verdict_by_turnover_half_life_h": {f"{k:g}": v for k, v in
                                                    self.model_labels.items()},
                "verdict_by_pk_model": dict(self.pk_model_labels),
                "pk_models_disagree": self.pk_models_disagree,
                "metrics": dict(self.metrics)}


def _pct_span(values: Sequence[float]) -> str:
    lo, hi = f"{100 * min(values):.0f}", f"{100 * max(values):.0f}"
    return f"{lo} %" if lo == hi else f"{lo}-{hi} %"


def _rule_reason(label: str, trough: float, h_inh: float, longest: float, h_spare: float
                 ) -> str:
    r = settings()["rules"]
    if label == "inhibited" and trough >= r["inhibited_trough_at_least_ng_ml"]:
        return (f"trough {trough:.2g} ng/mL stays at or above the "
                f"{r['inhibited_trough_at_least_ng_ml']:g} ng/mL rule")
    if label == "inhibited":
        return (f"{h_inh:.0f} h/week above {r['inhibited_above_ng_ml']:g} ng/mL (rule: >= "
                f"{r['inhibited_hours_above_per_week']:g} h)")
    if label == "spared":
        run = "always below" if math.isinf(longest) else f"{longest:.0f} h in a row below"
        return (f"{run} {r['spared_below_ng_ml']:g} ng/mL per cycle and {h_spare:.0f} h/week "
                f"above {r['spared_above_ng_ml']:g} ng/mL (rules: >= "
                f"{r['spared_continuous_hours_below']:g} h, <= "
                f"{r['spared_max_hours_above_per_week']:g} h)")
    run = "always" if math.isinf(longest) else f"{longest:.0f} h in a row"
    return (f"trough {trough:.2g} ng/mL, {run} below {r['spared_below_ng_ml']:g} ng/mL, "
            f"{h_inh:.0f} h/week above {r['inhibited_above_ng_ml']:g} ng/mL: between the rules")


def verdict_of(i: int, regimen: str, profile: MtorProfile, resp: MtorResponse,
               rules: RuleInputs, species: str = "human") -> Verdict:
    """The verdict of subject ``i`` with its reasons, from vectorised results (for an
    animal ``species``, its own evidence overrides the model's label where it exists)."""
    halves = resp.half_lives_h
    means = [float(x) for x in resp.mtorc2_mean[i]]
    mins = [float(x) for x in resp.mtorc2_min[i]]
    by_half = labels_from_m2(resp.mtorc2_mean[i:i + 1], resp.mtorc2_min[i:i + 1])
    short = too_short(profile)
    labels = {th: str(by_half[0, k]) for k, th in enumerate(halves)}
    label = str(overall_labels(by_half, False)[0])
    mine = RuleInputs(*(np.atleast_1d(getattr(rules, f.name))[i:i + 1] for f in fields(rules)))
    rule_label = str(rule_labels(mine)[0])
    v = settings()["verdict"]
    th_text = (f"a {halves[0]:g}-{halves[-1]:g} h mTORC2 turnover half-life"
               if len(halves) > 1 else f"a {halves[0]:g} h mTORC2 turnover half-life")
    reasons = [f"predicted assembled mTORC2 averages {_pct_span(means)} (lowest "
               f"{_pct_span(mins)}) over the {profile.basis} at {th_text}"]
    if len(set(labels.values())) == 1:
        reasons.append({
            "inhibited": f"below the {100 * v['inhibited_mean_below']:.0f} % line",
            "spared": (f"at or above {100 * v['spared_mean_at_least']:.0f} % on average and "
                       f"{100 * v['spared_min_at_least']:.0f} % at its lowest"),
            "equivocal": "between the spared and inhibited lines",
        }[label])
    else:
        per = ", ".join(f"{labels[th]} at {th:g} h" for th in halves)
        reasons.append(f"the verdict depends on the unknown human turnover half-life ({per})")
    trough, h_inh, h_spare, longest, run = (float(x[0]) for x in (
        mine.trough_ng_ml, mine.hours_above_inhibited_per_week,
        mine.hours_above_spared_per_week, mine.longest_below_h, mine.run_below_h()))
    reasons.append(f"threshold rules: {rule_label} "
                   f"({_rule_reason(rule_label, trough, h_inh, run, h_spare)})")
    if short and "inhibited" in (label, rule_label):
        label, rule_label = never_inhibited(np.array([label, rule_label], dtype=object))
        reasons.append(f"the regimen lasts {profile.duration_h / 24:g} days, shorter than the "
                       f"{v['onset_days']:g}-day onset of mTORC2 loss, so neither the model "
                       "nor the rules call it inhibited")
    evidence = species_evidence(species)
    if evidence is not None and evidence["verdict"] != label:
        label = evidence["verdict"]
        reasons.append(f"species evidence overrides the model: {evidence['reason']}")
    if rule_label != label:
        reasons.append("the turnover model and the threshold rules disagree")
    mean_i1 = float(resp.mtorc1_mean[i])
    frac_i1 = float(resp.mtorc1_frac_above_50[i])
    reasons.append(f"mTORC1 inhibition averages {100 * mean_i1:.0f} % and exceeds 50 % for "
                   f"{100 * frac_i1:.0f} % of the time")
    metrics = {
        "mtorc1_mean": mean_i1, "mtorc1_frac_above_50": frac_i1,
        "mtorc1_min": float(resp.mtorc1_min[i]),
        "mtorc2_mean": float(np.median(means)), "mtorc2_min": float(np.median(mins)),
        "mtorc2_mean_lowest": float(min(means)), "trough_ng_ml": trough,
        "hours_above_4_per_week": h_inh,
        "longest_below_1_h": longest,
    }
    return Verdict(regimen, label, tuple(reasons), labels, rule_label, metrics)
