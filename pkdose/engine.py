"""The answer engine: a regimen bound to subjects in, every metric per subject out.

Every command asks one question in a different form: *for this regimen, model, subjects
and co-medications, over this basis (a steady-state cycle, a window, the first week),
which metrics?* A :class:`Scenario` is the regimen bound to a prepared model (subjects,
co-medications), built once where input enters (:func:`scenario`); a :class:`Basis` says
what is summarised; :func:`evaluate` answers with one array per metric, one value per
subject.

``QUANTITIES`` is the one registry of what can be asked (PKNCA's idea): each entry has
its column, unit, CDISC code, table label, definition and the *steps* it needs. A step
(the concentration profile, its interval metrics, the mTOR response, the verdicts, ...)
runs at most once per evaluation and only when an asked metric needs it, so a caller
that wants the Cavg does not pay for the mTORC2 verdict or T90ss.

Time above a concentration is always given per week (``t_above_3_h_per_week``); the
longest run below a concentration is a length in hours.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from pkdose import exposure
from pkdose import pd as mtor
from pkdose.errors import ExtrapolationWarning, PkdoseError
from pkdose.limits import MAX_POINTS, MAX_TIME_H, exceeded, format_value
from pkdose.model import Model
from pkdose.regimen import HOURS_PER_WEEK, Regimen, block_starts, compile_trains
from pkdose.simulation import (
    Prepared,
    as_regimen,
    check_extrapolation,
    concentrations,
    prepare,
    resolve_model,
    steady_state_concentrations,
    steady_state_trains,
)

__all__ = ["CYCLE_METRICS", "DEFAULT_METRICS", "DOSE_PROPORTIONAL", "PK_METRICS",
           "QUANTITIES", "Basis", "Quantity", "Scenario", "basis_for", "bind", "course_basis",
           "evaluate", "mtor_profile", "quantity", "scenario", "verdicts"]

#: Grid step (h) of the summarised window: fine enough that parabola-refined Cmax and
#: Simpson AUC are accurate to better than 1e-5 relative for the shipped models, and
#: equal to the PD step so one steady-state profile serves both.
METRIC_STEP_H = mtor.PD_STEP_H
#: Concentrations (ng/mL) with a time-above column, and with a longest-run-below column.
ABOVE_NG_ML = (1.0, 3.0, 4.0)
BELOW_NG_ML = (1.0,)
#: Cycles searched for T90ss (also capped at 26 weeks).
T90_MAX_CYCLES = 400
#: Most grid points per subject from the first dose to a verdict window (memory): the
#: finest of ``LEAD_STEPS_H`` that fits, shortened so the window start is a grid point.
#: Only the mTOR state carried into the window depends on it (O(step^2), docs/mtorc2.md).
MAX_LEAD_POINTS = 9000
LEAD_STEPS_H = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 24.0)
#: Subjects evaluated at once (the population's block): a block's profiles and PD curves
#: on the finest lead grid take a few hundred MB at most; more subjects run block by block.
EVALUATE_BLOCK = 256


# --- what is run ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A regimen bound to a prepared model: its subjects (one row each) and co-medications."""

    regimen: Regimen
    prep: Prepared
    comedication: tuple[str, ...] = ()

    @property
    def model(self) -> Model:
        """The model the subjects are bound to."""
        return self.prep.model

    @property
    def n_subjects(self) -> int:
        """Number of subjects (rows of the covariate table)."""
        return len(self.prep.cov)

    @property
    def label(self) -> str:
        """The regimen as text, with its co-medications (those it carries are in its text)."""
        own = {str(c) for c in self.regimen.comedications}
        return " + ".join((str(self.regimen), *(c for c in self.comedication if c not in own)))


def comedications(with_: Sequence[str] | str | None) -> tuple[str, ...]:
    """Co-medication names as a tuple (one name, or several)."""
    if not with_:
        return ()
    return (with_,) if isinstance(with_, str) else tuple(with_)


def scenario(regimen: Regimen | str, model: Model | str | None = None, subjects=None, *,
             params: Mapping[str, float] | None = None,
             with_: Sequence[str] | str | None = (), species: str | None = None,
             warn: bool = True, eta: np.ndarray | None = None,
             eta_occ: np.ndarray | None = None) -> Scenario:
    """Bind a regimen to a model, subjects and co-medications: the one place input enters.

    Parameters
    ----------
    regimen : Regimen or str
        A Regimen, regimen text, or a file holding one regimen.
    model : Model, str or None
        Model object, built-in name, model TOML path, or None for the drug's default
        model of ``species`` (default human).
    subjects : mapping, DataFrame or None
        Covariates: one mapping is one subject; a DataFrame has one row per subject;
        None is the typical subject.
    params : mapping, optional
        Typical-value overrides, e.g. ``{"cl": 7.5}``.
    with_ : str or sequence of str
        Co-medications applied through ``pkdose.interactions``, added to those the regimen
        carries; ``"ketoconazole day 8-14"`` is taken on those days only.
    warn : bool
        Warn (``ExtrapolationWarning``) where dose or covariates leave the model's data.
        Routes a model cannot take are refused either way.
    eta, eta_occ : ndarray, optional
        The subjects' random effects (``pkdose.population.draw_etas``); default none.
    """
    # Co-medications given here join the regimen's own (its text then says them).
    reg = as_regimen(regimen).with_comedications(comedications(with_))
    m = resolve_model(reg, model, params, species, subjects)
    comed = tuple(str(c) for c in reg.comedications)
    from pkdose.conditions import regimen_subjects

    prep = prepare(m, regimen_subjects(reg, subjects), eta, eta_occ, with_=comed)
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore", ExtrapolationWarning)
        check_extrapolation(m, reg, prep.cov)
    return Scenario(reg, prep, comed)


def bind(regimen: Regimen, prep: Prepared, comedication: Sequence[str] = ()) -> Scenario:
    """A scenario of already prepared subjects (population blocks, posterior draws)."""
    return Scenario(regimen, prep, tuple(comedication))


@dataclass(frozen=True)
class Basis:
    """What a metric summarises.

    ``steady state``: one cycle of the periodic steady state (``start_h`` 0, ``end_h``
    the period, hours in the cycle); ``window``: hours ``start_h``-``end_h`` after the
    first dose; ``first week``: the first 168 h of a regimen that stops. The mTOR verdict
    of a regimen that stops is judged over its last week (``pkdose.pd``). A window chosen
    because the regimen has one-off events (``course``) is labelled ``course 0-N h``.
    """

    kind: str
    start_h: float
    end_h: float
    course: bool = False

    @property
    def length_h(self) -> float:
        """Length of the summarised window (h)."""
        return self.end_h - self.start_h

    @property
    def periodic(self) -> bool:
        """True for a steady-state cycle."""
        return self.kind == "steady state"

    @property
    def label(self) -> str:
        """As shown in tables: ``steady state``, ``first week`` or ``window 0-12 h``."""
        if self.kind == "window":
            return f"{'course' if self.course else 'window'} {self.start_h:g}-{self.end_h:g} h"
        return self.kind


def basis_for(regimen: Regimen, window_h: tuple[float, float] | None = None) -> Basis:
    """The window given, else a steady-state cycle when the regimen goes on, else its
    first week."""
    if window_h is not None:
        try:
            lo, hi = (float(x) for x in window_h)
        except (TypeError, ValueError):
            raise PkdoseError("a window is two times in hours, start and end",
                              option="window_h") from None
        if not (0 <= lo < hi and math.isfinite(hi)):
            raise PkdoseError(f"a window must satisfy 0 <= start < end, got {lo:g}-{hi:g} h",
                              option="window_h")
        if hi > MAX_TIME_H:
            raise exceeded("time_h", f"a window ending at {format_value(hi, 'h')}",
                           option="window_h")
        if (hi - lo) / METRIC_STEP_H > MAX_POINTS:
            raise exceeded("points", f"a {format_value(hi - lo, 'h')} window on the "
                           f"{METRIC_STEP_H:g} h metric grid", option="window_h")
        return Basis("window", lo, hi)
    if regimen.has_events:
        return course_basis(regimen)
    if regimen.is_indefinite:
        _, period, _ = steady_state_trains(regimen)
        return Basis("steady state", 0.0, float(period))
    return Basis("first week", 0.0, HOURS_PER_WEEK)


def course_basis(regimen: Regimen) -> Basis:
    """The whole course of a regimen with one-off events (dose changes, co-medications that
    start or stop), where a steady state says nothing about them: from the first dose to
    the end of the regimen, or, for one that goes on, to one week after its last event,
    in whole weeks (so per-week metrics count whole weeks)."""
    end = block_starts(regimen)[-1] - regimen.start_h
    if not math.isfinite(end):
        end = math.ceil((regimen.events_end_h() + HOURS_PER_WEEK) / HOURS_PER_WEEK - 1e-9) \
            * HOURS_PER_WEEK
    if end / METRIC_STEP_H > MAX_POINTS:
        raise exceeded("points", f"the whole {format_value(end, 'h')} course of a regimen "
                       f"with dose changes on the {METRIC_STEP_H:g} h metric grid; give a "
                       "shorter window", option="window_h")
    return Basis("window", 0.0, float(end), course=True)


# --- the registry -----------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    """One thing the engine can be asked for.

    Attributes
    ----------
    name : str
        Name in the field (``Cmax``, ``T90ss``, ``mTORC2 verdict``).
    column : str
        Result column, unit in the name where it has one.
    unit : str
        ``ng/mL``, ``h``, ``h/week``, ``ng*h/mL``, ``%``, ``ratio``, ``fraction`` or
        ``label``/``text``.
    cdisc : str or None
        CDISC PK parameter code (PPTESTCD) where one exists.
    label : str
        Short table heading.
    definition : str
        One sentence.
    step : str
        The engine step that computes it (``docs/metrics.md`` lists them).
    """

    name: str
    column: str
    unit: str
    cdisc: str | None
    label: str
    definition: str
    step: str

    @property
    def is_pd(self) -> bool:
        """True for mTOR engagement and verdict entries."""
        return self.step in ("response", "verdict", "reasons")


def _pk(name: str, label: str) -> Quantity:
    m = exposure.METRICS[name]
    return Quantity(m.name, m.column, m.unit, m.cdisc, label, m.definition, "pk")


def _above(x: float) -> Quantity:
    m = exposure.METRICS["Tabove"]
    return Quantity(f"Tabove {x:g}", m.column_for(x).replace("_h", "_h_per_week"), "h/week",
                    None, f"h>{x:g}/wk",
                    f"Hours per week above {x:g} ng/mL: the time above it in the window "
                    "(crossings linearly interpolated between grid points) scaled to 168 h.",
                    "pk")


def _below(x: float) -> Quantity:
    m = exposure.METRICS["Tbelow_longest"]
    return Quantity(f"Tbelow_longest {x:g}", m.column_for(x), "h", None,
                    f"longest h<{x:g}", m.definition.replace("threshold x ng/mL", f"{x:g} ng/mL"),
                    "pk")


_ENTRIES = (
    _pk("Cmax", "Cmax"), _pk("Tmax", "Tmax h"), _pk("Ctrough", "Ctrough"), _pk("Cmin", "Cmin"),
    _pk("Cavg", "Cavg"), _pk("AUCtau", "AUCtau"), _pk("AUC168", "AUC168"),
    *(_above(x) for x in ABOVE_NG_ML), *(_below(x) for x in BELOW_NG_ML),
    _pk("PTF", "PTF %"), _pk("Swing", "swing"),
    Quantity("Rac", "rac", "ratio", "ARAUC", "Rac", exposure.METRICS["Rac"].definition, "rac"),
    Quantity("T90ss", "t90ss_h", "h", None, "T90ss h", exposure.METRICS["T90ss"].definition,
             "t90ss"),
    Quantity("plasma Cmax", "plasma_cmax_ng_ml", "ng/mL", None, "plasma Cmax",
             "Cmax of the plasma concentration, for models that predict plasma.", "plasma"),
    Quantity("plasma Cavg", "plasma_cavg_ng_ml", "ng/mL", None, "plasma Cavg",
             "Cavg of the plasma concentration, for models that predict plasma.", "plasma"),
    Quantity("Cavg course", "cavg_course_ng_ml", "ng/mL", None, "Cavg course",
             "Average whole-blood concentration from the first dose to the end of the "
             "verdict window (regimens that stop: the end of the regimen).", "course"),
    Quantity("Cmax course", "cmax_course_ng_ml", "ng/mL", None, "Cmax course",
             "Highest grid concentration from the first dose to the end of the verdict "
             "window.", "course"),
    Quantity("mTORC1 mean", "mtorc1_mean", "fraction", None, "mTORC1 %",
             "Mean mTORC1 (S6K) inhibition over the verdict window.", "response"),
    Quantity("mTORC1 above 50", "mtorc1_frac_above_50", "fraction", None, "mTORC1>50 %",
             "Fraction of the verdict window with mTORC1 inhibition above 50 %.", "response"),
    Quantity("mTORC2 mean", "mtorc2_mean", "fraction", None, "mTORC2 %",
             "Mean assembled mTORC2 fraction over the verdict window, at the central "
             "turnover half-life.", "response"),
    Quantity("mTORC2 min", "mtorc2_min", "fraction", None, "mTORC2 min %",
             "Lowest assembled mTORC2 fraction over the verdict window, at the central "
             "turnover half-life.", "response"),
    Quantity("mTORC2 verdict", "mtorc2_verdict", "label", None, "mTORC2 verdict",
             "spared, equivocal or inhibited: the turnover model's label when it is the same "
             "at every turnover half-life of the prior (humans: 48, 96, 168 h), else "
             "equivocal; never inhibited for a course shorter than the onset.", "verdict"),
    Quantity("mTORC2 verdict central", "mtorc2_verdict_central", "label", None,
             "verdict central",
             "The turnover model's label at the central turnover half-life alone.", "verdict"),
    Quantity("mTORC2 rule verdict", "mtorc2_rule_verdict", "label", None, "rule verdict",
             "The threshold rules' label (trough, hours above and runs below per week).",
             "verdict"),
    Quantity("mTORC2 reasons", "mtorc2_reasons", "text", None, "reasons",
             "The verdict's reasons, as sentences.", "reasons"),
)

#: The registry, by name, in table order.
QUANTITIES: Mapping[str, Quantity] = MappingProxyType({q.name: q for q in _ENTRIES})
_BY_COLUMN = MappingProxyType({q.column: q for q in _ENTRIES})

#: What ``compare`` reports: everything but the per-subject reasons.
DEFAULT_METRICS = tuple(q.name for q in _ENTRIES if q.step not in ("reasons",))
#: Exposure without the costly transient (Rac, T90ss) and reasons: populations, searches.
CYCLE_METRICS = tuple(q.name for q in _ENTRIES if q.step not in ("reasons", "rac", "t90ss"))
PK_METRICS = tuple(q.name for q in _ENTRIES if q.step == "pk")
#: Concentrations and their integrals: proportional to the dose in a linear model, and
#: rising with it in every model (what a dose search can aim at).
DOSE_PROPORTIONAL = tuple(QUANTITIES[k].column for k in ("Ctrough", "Cmin", "Cmax", "Cavg",
                                                         "AUC168", "AUCtau"))


def quantity(key: str) -> Quantity:
    """A registry entry by name or column (case-insensitive name)."""
    if key in QUANTITIES:
        return QUANTITIES[key]
    if key in _BY_COLUMN:
        return _BY_COLUMN[key]
    low = {k.lower(): q for k, q in QUANTITIES.items()}
    if str(key).lower() in low:
        return low[str(key).lower()]
    raise PkdoseError(f"unknown metric {key!r}; choose from {', '.join(QUANTITIES)}")


# --- the steps --------------------------------------------------------------------------


def _grid(length_h: float, step_h: float) -> np.ndarray:
    """0..length_h with an even number of intervals of at most ``step_h`` (Simpson)."""
    n_int = max(2, int(math.ceil(length_h / step_h - 1e-9)))
    n_int += n_int % 2
    return np.linspace(0.0, length_h, n_int + 1)


def _lead_grid(end_h: float) -> np.ndarray:
    """Uniform grid from 0 to exactly ``end_h``, as fine as ``MAX_LEAD_POINTS`` allows."""
    step = next((h for h in LEAD_STEPS_H if end_h / h <= MAX_LEAD_POINTS), LEAD_STEPS_H[-1])
    return np.linspace(0.0, end_h, max(1, int(math.ceil(end_h / step - 1e-9))) + 1)


class _Run:
    """One evaluation: the scenario, basis and options, and the steps done so far."""

    def __init__(self, scn: Scenario, basis: Basis, step_h: float,
                 pd_params: mtor.PDParams | None) -> None:
        self.scn, self.basis, self.step_h = scn, basis, step_h
        self.pd_params = pd_params or mtor.load_pd()
        self._done: dict[str, object] = {}

    def __getitem__(self, step: str):
        if step not in self._done:
            self._done[step] = _STEPS[step](self)
        return self._done[step]

    @property
    def multiplier(self) -> float:
        return float(mtor.settings()["drug_multiplier"].get(self.scn.regimen.drug, 1.0))


def _profile(run: _Run) -> tuple[np.ndarray, Mapping[str, np.ndarray]]:
    """Grid (from the basis start) and concentrations over the summarised window."""
    scn, b = run.scn, run.basis
    t = _grid(b.length_h, run.step_h)
    if b.periodic:
        return t, steady_state_concentrations(scn.prep, scn.regimen, t)
    return t, concentrations(scn.prep, compile_trains(scn.regimen), b.start_h + t)


def _pk_step(run: _Run) -> dict[str, np.ndarray]:
    t, conc = run["profile"]
    out = exposure.interval_metrics(t, conc["conc_ng_ml"], above=ABOVE_NG_ML,
                                    below=BELOW_NG_ML, periodic=run.basis.periodic)
    per_week = HOURS_PER_WEEK / run.basis.length_h
    for x in ABOVE_NG_ML:
        raw = exposure.METRICS["Tabove"].column_for(x)
        out[QUANTITIES[f"Tabove {x:g}"].column] = out.pop(raw) * per_week
    return out


def _plasma_step(run: _Run) -> dict[str, np.ndarray]:
    t, conc = run["profile"]
    n = run.scn.n_subjects
    if "plasma_ng_ml" not in conc:
        return {"plasma_cmax_ng_ml": np.full(n, np.nan), "plasma_cavg_ng_ml": np.full(n, np.nan)}
    pv = exposure.interval_metrics(t, conc["plasma_ng_ml"], above=(), below=(),
                                   periodic=run.basis.periodic)
    return {"plasma_cmax_ng_ml": pv["cmax_ng_ml"], "plasma_cavg_ng_ml": pv["cavg_ng_ml"]}


def _cycle_start(run: _Run) -> float:
    return block_starts(run.scn.regimen)[-2]


def _rac_step(run: _Run) -> dict[str, np.ndarray]:
    n = run.scn.n_subjects
    if not run.basis.periodic:
        return {"rac": np.full(n, np.nan)}
    t, _ = run["profile"]
    first = concentrations(run.scn.prep, compile_trains(run.scn.regimen), _cycle_start(run) + t)
    auc_first = exposure.interval_metrics(t, first["conc_ng_ml"], above=(), below=(),
                                          periodic=False)["auctau_ng_h_ml"]
    return {"rac": exposure.accumulation_ratio(auc_first, run["pk"]["auctau_ng_h_ml"])}


def _t90ss_step(run: _Run) -> dict[str, np.ndarray]:
    """Start of the first cycle whose Cavg reaches 90 % of the steady-state Cavg (h),
    cycles counted from the start of the repeating block, over at most
    ``T90_MAX_CYCLES`` cycles or 26 weeks (NaN if not reached by then)."""
    n = run.scn.n_subjects
    if not run.basis.periodic:
        return {"t90ss_h": np.full(n, np.nan)}
    period = run.basis.length_h
    start = _cycle_start(run)
    n_cycles = int(min(T90_MAX_CYCLES, max(1, math.ceil(26 * HOURS_PER_WEEK / period))))
    per_cycle = _grid(period, run.step_h)
    t = (start + period * np.arange(n_cycles)[:, None] + per_cycle[None, :]).ravel()
    conc = concentrations(run.scn.prep, compile_trains(run.scn.regimen), t)["conc_ng_ml"]
    cavg = exposure.interval_metrics(per_cycle, conc.reshape(n * n_cycles, per_cycle.size),
                                     above=(), below=(), periodic=False)["cavg_ng_ml"]
    return {"t90ss_h": exposure.time_to_fraction_of_ss(
        start + period * np.arange(n_cycles), cavg.reshape(n, n_cycles),
        run["pk"]["cavg_ng_ml"], fraction=0.9)}


def _verdict_window(run: _Run) -> tuple[float, float, str]:
    """Start, end (h from the first dose) and description of a non-periodic verdict window.

    A window given is judged as it is; a regimen that stops, over its last week (or its
    whole length if shorter), following its last single dose for a week.
    """
    b, reg = run.basis, run.scn.regimen
    if b.kind == "window":
        return b.start_h, b.end_h, b.label
    end = block_starts(reg)[-1]
    if not math.isfinite(end):  # ends with a one-off dose: follow it for a week
        end = max(tr.last_h for tr in compile_trains(reg)) + HOURS_PER_WEEK
    span = min(end, mtor.settings()["verdict"]["window_h"])
    return end - span, end, f"last {span / 24:g} days of the {end / 24:g}-day regimen"


def _mtor_profile_step(run: _Run) -> mtor.MtorProfile:
    scn, mult = run.scn, run.multiplier
    if run.basis.periodic:
        t, conc = run["profile"]
        return mtor.MtorProfile(conc["conc_ng_ml"] * mult, float(t[1] - t[0]), True, math.inf,
                                f"steady-state cycle ({run.basis.length_h:g} h)")
    lo, hi, label = _verdict_window(run)
    trains = compile_trains(scn.regimen)
    if run.basis.kind == "window":
        t, conc = run["profile"]
        c = conc["conc_ng_ml"]
    else:
        t = _grid(hi - lo, run.step_h)
        c = concentrations(scn.prep, trains, lo + t)["conc_ng_ml"]
    lead, lead_step = None, 0.0
    if lo > 0:
        tl = _lead_grid(lo)
        lead, lead_step = concentrations(scn.prep, trains, tl)["conc_ng_ml"] * mult, float(tl[1])
    return mtor.MtorProfile(c * mult, float(t[1] - t[0]), False, hi, label, lead, lead_step, lo)


def _mtor_response_step(run: _Run) -> mtor.MtorResponse:
    return mtor.respond(run["mtor_profile"], run.pd_params,
                        mtor.half_lives_for(run.scn.model.species, run.pd_params))


def _response_step(run: _Run) -> dict[str, np.ndarray]:
    resp: mtor.MtorResponse = run["mtor_response"]
    k = resp.central
    return {"mtorc1_mean": resp.mtorc1_mean, "mtorc1_frac_above_50": resp.mtorc1_frac_above_50,
            "mtorc2_mean": resp.mtorc2_mean[:, k], "mtorc2_min": resp.mtorc2_min[:, k]}


def _verdict_step(run: _Run) -> dict[str, np.ndarray]:
    resp: mtor.MtorResponse = run["mtor_response"]
    prof = run["mtor_profile"]
    short = mtor.too_short(prof)
    by_half = mtor.labels_from_m2(resp.mtorc2_mean, resp.mtorc2_min)
    central = by_half[:, resp.central]
    rules = mtor.rule_labels(run["rules"])
    if short:
        central, rules = mtor.never_inhibited(central), mtor.never_inhibited(rules)
    species = run.scn.model.species
    return {"mtorc2_verdict": mtor.with_species_evidence(mtor.overall_labels(by_half, short),
                                                         species),
            "mtorc2_verdict_central": mtor.with_species_evidence(central, species),
            "mtorc2_rule_verdict": rules}


def _reasons_step(run: _Run) -> dict[str, np.ndarray]:
    return {"mtorc2_reasons": np.array(["; ".join(v.reasons) for v in _verdict_objects(run)],
                                       dtype=object)}


def _verdict_objects(run: _Run) -> list[mtor.Verdict]:
    resp, prof, rules = run["mtor_response"], run["mtor_profile"], run["rules"]
    label = run.scn.label
    return [mtor.verdict_of(i, label, prof, resp, rules, run.scn.model.species)
            for i in range(run.scn.n_subjects)]


def _course_step(run: _Run) -> dict[str, np.ndarray]:
    n = run.scn.n_subjects
    if run.basis.periodic:
        return {"cavg_course_ng_ml": np.full(n, np.nan), "cmax_course_ng_ml": np.full(n, np.nan)}
    prof: mtor.MtorProfile = run["mtor_profile"]
    legs = [(prof.conc, prof.step_h)] + ([(prof.lead, prof.lead_step_h)]
                                          if prof.lead is not None else [])
    auc = sum(exposure.interval_metrics(step * np.arange(c.shape[-1]), c, above=(), below=(),
                                        periodic=False)["auctau_ng_h_ml"] for c, step in legs)
    cmax = np.max([c.max(axis=-1) for c, _ in legs], axis=0)
    return {"cavg_course_ng_ml": auc / prof.duration_h / run.multiplier,
            "cmax_course_ng_ml": cmax / run.multiplier}


_STEPS: Mapping[str, Callable[[_Run], object]] = MappingProxyType({
    "profile": _profile,
    "pk": _pk_step,
    "plasma": _plasma_step,
    "rac": _rac_step,
    "t90ss": _t90ss_step,
    "mtor_profile": _mtor_profile_step,
    "rules": lambda run: mtor.rule_inputs(run["mtor_profile"]),
    "mtor_response": _mtor_response_step,
    "response": _response_step,
    "verdict": _verdict_step,
    "reasons": _reasons_step,
    "course": _course_step,
})


# --- asking -----------------------------------------------------------------------------


def _wanted(metrics: Iterable[str] | None) -> list[Quantity]:
    names = DEFAULT_METRICS if metrics is None else metrics
    return list(dict.fromkeys(quantity(k) for k in names))


def evaluate(scn: Scenario, metrics: Iterable[str] | None = None, basis: Basis | None = None,
             *, step_h: float = METRIC_STEP_H, pd_params: mtor.PDParams | None = None
             ) -> dict[str, np.ndarray]:
    """Every asked metric of every subject of a scenario.

    Parameters
    ----------
    scn : Scenario
        From :func:`scenario` or :func:`bind`.
    metrics : iterable of str, optional
        Registry names or columns (``QUANTITIES``); default ``DEFAULT_METRICS``.
    basis : Basis, optional
        Default :func:`basis_for` the regimen: a steady-state cycle, or the first week of a
        regimen that stops (mTOR verdict over its last week).
    step_h : float
        Grid step of the summarised window (the PD recurrences are exact for a
        piecewise-linear input, so a coarser step costs accuracy of peaks only).
    pd_params : PDParams, optional
        mTOR parameters (default the fitted set).

    Returns
    -------
    dict of str to numpy.ndarray
        Column -> one value per subject, in the order asked. Steady-state-only metrics
        (Rac, T90ss) are NaN on other bases, and course metrics NaN at steady state.
    """
    if not (math.isfinite(step_h) and step_h > 0):
        raise PkdoseError(f"the grid step must be a positive number of hours, got {step_h!r}")
    n = scn.n_subjects
    if n > EVALUATE_BLOCK:
        # Memory: the profiles and PD curves of a block, not of every subject at once.
        parts = [evaluate(bind(scn.regimen, scn.prep.rows(lo, min(n, lo + EVALUATE_BLOCK)),
                               scn.comedication), metrics, basis, step_h=step_h,
                          pd_params=pd_params) for lo in range(0, n, EVALUATE_BLOCK)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    run = _Run(scn, basis or basis_for(scn.regimen), float(step_h), pd_params)
    out: dict[str, np.ndarray] = {}
    for q in _wanted(metrics):
        out[q.column] = np.asarray(run[q.step][q.column])
    return out


def verdicts(scn: Scenario, basis: Basis | None = None,
             pd_params: mtor.PDParams | None = None) -> list[mtor.Verdict]:
    """The mTORC2 verdict of every subject, with its reasons and numbers."""
    run = _Run(scn, basis or basis_for(scn.regimen), METRIC_STEP_H, pd_params)
    return _verdict_objects(run)


def mtor_profile(scn: Scenario, basis: Basis | None = None) -> mtor.MtorProfile:
    """The sirolimus-equivalent profile the verdict is judged on (for calibration)."""
    return _Run(scn, basis or basis_for(scn.regimen), METRIC_STEP_H, None)["mtor_profile"]
