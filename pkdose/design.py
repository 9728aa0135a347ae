"""Trial design on virtual populations: the dose for a target, arm sizes, the mTOR window.

>>> from pkdose.design import find_dose, compare_arms, therapeutic_window  # doctest: +SKIP
>>> find_dose("sirolimus", "weekly", "median Cavg=2", n=500, population="older-adults")
>>> compare_arms(["sirolimus 5 mg weekly", "sirolimus 10 mg weekly"], "AUC168", n=500)
>>> therapeutic_window("sirolimus", mtorc1=0.5, spared=0.8, n=100)

Everything runs on the virtual subjects of :func:`pkdose.population.simulate_population`
(``docs/trial-design.md``):

* ``find_dose``: Brent's method (``scipy.optimize.brentq``) on log dose, with common random
  numbers (the same seed, hence the same subjects, at every dose), so the population
  statistic is a continuous, monotone function of dose and the root is well defined;
* ``compare_arms``: arms of a parallel-group trial hold *different* subjects, so each arm
  is simulated with its own seed (:func:`arm_seed`), unlike ``pkdose population`` which
  gives every arm the same subjects;
* ``therapeutic_window``: a grid of tablet doses x dosing intervals, all on the same
  subjects, with the Pareto front of mTORC1 engagement against mTORC2 sparing.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from pkdose.diagnostics import threshold
from pkdose.drugs import resolve_drug, tablet_doses
from pkdose.engine import DOSE_PROPORTIONAL, evaluate, quantity
from pkdose.errors import ExtrapolationWarning, PkdoseError, warning_messages
from pkdose.limits import MAX_SCHEDULES, exceeded
from pkdose.model import Model
from pkdose.population import load_population, population_scenario
from pkdose.regimen import HOURS_PER_DAY, Block, Dose, Regimen
from pkdose.simulation import model_of_drug
from pkdose.targets import Target, metric_quantity, parse_target

#: Root-finder tolerance on log dose: the continuous dose is found to 0.1 % (tablets
#: differ by 5 % or more).
LOG_DOSE_XTOL = 1e-3
#: Bootstrap resamples of the subjects for the Monte Carlo interval of the dose found.
BOOTSTRAP = 400
#: Geometric step of the default dose grid of ``therapeutic_window``.
GRID_RATIO = 1.3
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)"

Progress = Callable[[int, int], None]


# --- targets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseTarget(Target):
    """What the dose must achieve: a percentile (``quantile``) of a metric, equal to ``value``.

    A fraction target ("90 % of subjects with trough < 3") is the same thing: it holds at
    the dose where the 90th percentile of trough (precisely, the order statistic that
    decides it, see :meth:`attained`) equals 3; its ``fraction`` is kept so the fraction of
    subjects meeting the condition can be reported beside it.
    """

    fraction: float | None = None

    @property
    def statistic(self) -> str:
        """Name of the statistic, e.g. ``median Cavg`` or ``p90 Ctrough`` (the metric's name
        in the field, not its column)."""
        q = 100 * self.quantile
        name = "median" if q == 50 else f"p{q:g}"
        return f"{name} {quantity(self.column).name}"

    def attained(self, values: np.ndarray) -> float:
        """The statistic over subjects.

        A percentile target interpolates linearly between order statistics. A condition
        target uses the order statistic that decides it: with k = ceil(fraction * n), at
        least k subjects meet ``X < v`` exactly when the k-th smallest X is below v (for
        ``X > v``, the k-th largest above v), so "meets" at a dose never disagrees with the
        fraction of subjects counted there.
        """
        x = np.sort(np.asarray(values, float))
        if self.fraction is None:
            return float(np.percentile(x, 100 * self.quantile))
        k = max(1, math.ceil(self.fraction * x.size - 1e-9))
        return float(x[k - 1] if self.op in ("<", "<=") else x[x.size - k])


def parse_dose_target(text: str, fraction: float | None = None) -> DoseTarget:
    """'median Cavg=2', 'p10 trough=3', 'trough<3' with ``fraction=0.9`` -> DoseTarget.

    Parameters
    ----------
    text : str
        A target of ``pkdose.targets``: a population percentile that must equal a value
        (``median Cavg=2``, ``p10 trough=3``; ``median Cavg>=2`` means the same to a dose
        search), or a condition on each subject (``trough<3``; ``<=``, ``>``, ``>=``)
        that ``fraction`` of subjects must meet, also written ``fraction meeting
        trough<3 = F`` or ``P(trough<3)=F``.
    fraction : float, optional
        Fraction of subjects (0-1, exclusive) for a condition target.

    Returns
    -------
    DoseTarget
    """
    s = str(text).strip()
    m = re.fullmatch(r"(?i)(?:fraction\s+meeting\s+(.+?)|P\((.+)\))\s*=\s*" + _NUMBER, s)
    if m:  # 'fraction meeting trough<3 = 0.9' or 'P(trough<3)=0.9', as summarise writes it
        if fraction is not None:
            raise PkdoseError(f"{s!r} already gives the fraction; drop the separate fraction")
        return parse_dose_target((m.group(1) or m.group(2)).strip(), float(m.group(3)))
    tgt = parse_target(s)
    if tgt.op in ("label", "range", "point"):
        raise PkdoseError(f"cannot search a dose for {s!r}; write 'median METRIC=VALUE', "
                          "'pN METRIC=VALUE' (e.g. p10 trough=3), or METRIC<VALUE with the "
                          "fraction of subjects that must meet it")
    if tgt.quantile is not None:
        if fraction is not None:
            raise PkdoseError(f"a fraction applies to condition targets such as trough<3, "
                              f"not to {s!r}")
        return DoseTarget(**vars(tgt))
    if fraction is None:
        raise PkdoseError(f"say what fraction of subjects must meet {s!r}, e.g. 0.9",
                          option="fraction")
    _check_fractions(fraction=fraction, option="fraction")
    # P(X < v) = p  <=>  the p-quantile of X is v; P(X > v) = p  <=>  the (1-p)-quantile.
    q = fraction if tgt.op in ("<", "<=") else 1 - fraction
    return DoseTarget(**{**vars(tgt), "quantile": q}, fraction=float(fraction))


# --- regimens at a dose --------------------------------------------------------------------


def schedule_regimen(drug: str, schedule: str | Regimen) -> Regimen:
    """A regimen template of one dose size, from a schedule ('weekly', 'every 3 days')."""
    if isinstance(schedule, Regimen):
        reg = schedule
        if reg.drug != resolve_drug(drug):
            raise PkdoseError(f"the schedule {reg} is for {reg.drug}, not {drug}")
    else:
        from pkdose.regimen_text import parse_regimen

        text = str(schedule).strip()
        if not text:
            raise PkdoseError("give a schedule, e.g. weekly, daily or 'every 3 days'")
        try:  # '1 mg daily' failed as 'sirolimus 1 mg 1 mg daily', which says nothing
            parse_regimen(f"{resolve_drug(drug)} {text}")
        except PkdoseError:
            pass
        else:
            raise PkdoseError(f"the schedule {text!r} names a dose, which the search finds; "
                              "give the schedule alone, e.g. daily or weekly",
                              option="schedule")
        reg = parse_regimen(f"{resolve_drug(drug)} 1 mg {text}")
    doses = {(b.dose.amount, b.dose.unit) for b in reg.blocks}
    if len(doses) != 1 or next(iter(doses))[1] != "mg":
        raise PkdoseError(f"{reg} has more than one dose size (or doses per kg/m2); "
                          "give a schedule with one dose in mg")
    return reg


def at_dose(template: Regimen, dose_mg: float) -> Regimen:
    """The template regimen with every dose set to ``dose_mg``."""
    return replace(template, name="", blocks=tuple(
        replace(b, dose=replace(b.dose, amount=float(dose_mg))) for b in template.blocks))


# --- find-dose -----------------------------------------------------------------------------


def find_dose(drug: str, schedule: str | Regimen, target: str | DoseTarget,
              fraction: float | None = None, n: int = 1000, population=None, seed: int = 1,
              model: Model | str | None = None, with_: Sequence[str] | str = (),
              max_tablets: int = 5, progress: Progress | None = None) -> pd.DataFrame:
    """The dose on a schedule that meets a population target, and the tablet doses around it.

    Parameters
    ----------
    drug : str
    schedule : str or Regimen
        ``"weekly"``, ``"daily"``, ``"every 3 days"`` ... (or a regimen of one dose size).
    target : str or DoseTarget
        ``"median Cavg=2"``, ``"p10 trough=3"``, or a condition ``"trough<3"`` with
        ``fraction``.
    fraction : float, optional
        Fraction of subjects that must meet a condition target.
    n, population, seed, model, with_ : as :func:`pkdose.population.simulate_population`
        The same seed (same subjects) is used at every dose: common random numbers.
    max_tablets : int
        Largest number of marketed tablets per intake; the search runs from the smallest
        tablet dose to the largest dose this many tablets make.
    progress : callable(simulations, dose_mg), optional

    Returns
    -------
    DataFrame
        Rows ``root`` (the continuous dose, found by Brent's method on log dose to
        ``LOG_DOSE_XTOL``), ``tablet below`` and ``tablet above`` (the tablet doses
        bracketing it). Columns: row, dose_mg, regimen, target (as written, with its
        LC-MS/MS value when stated for an immunoassay), statistic, target_value, attained,
        condition, fraction_target, fraction_meeting, meets, dose_low_mg and dose_high_mg
        (95 % Monte Carlo interval of the root: bootstrap of the simulated subjects,
        :func:`_bootstrap_interval`), evaluations (calls of the
        statistic by the root-finder), simulations (population simulations run; one for
        a concentration metric of a dose-linear model, whose metrics scale with dose), n,
        seed, model.

    Raises
    ------
    PkdoseError
        Bad input, or no dose within the tablet range meets the target.
    """
    tgt = target if isinstance(target, DoseTarget) else parse_dose_target(target, fraction)
    template = schedule_regimen(drug, schedule)
    tgt = tgt.on_lcms_scale(template.drug)  # a level stated for an immunoassay
    pop = load_population(population)
    doses = tablet_doses(template.drug, max_tablets)
    # The model these subjects get: when none is chosen, children get the paediatric one.
    m = population_scenario(template, model, pop, n, seed, with_, warn=False).model
    lo, hi = doses[0], doses[-1]
    # The target's metric by dose, on the same subjects (the engine computes it alone).
    # With linear PK (no saturable absorption or blood binding) a metric proportional to
    # dose is the first simulation scaled.
    scaled = (m.absorption != "michaelis_menten" and m.blood == "none"
              and tgt.column in DOSE_PROPORTIONAL)
    cache: dict[float, np.ndarray] = {}
    simulated: list[float] = []
    caught: list[str] = []

    def metric(dose: float) -> np.ndarray:
        key = round(float(dose), 12)
        if key in cache:
            return cache[key]
        if scaled and simulated:
            cache[key] = cache[round(simulated[0], 12)] * (dose / simulated[0])
            return cache[key]
        with warning_messages() as said:
            scn = population_scenario(at_dose(template, dose), m, pop, n, seed, with_)
            cache[key] = evaluate(scn, [tgt.column])[tgt.column]
        caught.extend(said)
        simulated.append(dose)
        if progress is not None:
            progress(len(simulated), dose)
        return cache[key]

    def g(log_dose: float) -> float:
        # The ends are the tablet doses themselves, not exp(log(dose)) one ulp away.
        dose = lo if log_dose == math.log(lo) else hi if log_dose == math.log(hi) else (
            math.exp(log_dose))
        return tgt.attained(metric(dose)) - tgt.value

    g_lo, g_hi = g(math.log(lo)), g(math.log(hi))  # the first checks the number of subjects
    if g_lo * g_hi > 0:
        raise PkdoseError(_no_root(tgt, template, lo, hi, g_lo + tgt.value,
                                   g_hi + tgt.value, max_tablets))
    if g_lo == 0 or g_hi == 0:
        root, evaluations = (lo if g_lo == 0 else hi), 2
    else:
        x, res = optimize.brentq(g, math.log(lo), math.log(hi), xtol=LOG_DOSE_XTOL,
                                 full_output=True)
        root, evaluations = math.exp(x), res.function_calls  # the two ends included
    below = max((d for d in doses if d <= root * (1 + 1e-9)), default=lo)
    above = min((d for d in doses if d >= root * (1 - 1e-9)), default=hi)
    rows, cond = [], tgt.fraction is not None
    for label, dose in (("root", root), ("tablet below", below), ("tablet above", above)):
        frac = float(np.mean(tgt.met({tgt.column: metric(dose)}))) if cond else np.nan
        rows.append({"row": label, "dose_mg": dose, "regimen": str(at_dose(template, dose)),
                     "target": tgt.text, "statistic": tgt.statistic, "target_value": tgt.value,
                     "attained": tgt.attained(metric(dose)), "condition": tgt.text if cond else "",
                     "fraction_target": tgt.fraction, "fraction_meeting": frac,
                     "meets": bool(frac >= tgt.fraction) if cond else None})
    df = pd.DataFrame(rows)
    df["dose_low_mg"], df["dose_high_mg"] = _bootstrap_interval(tgt, cache, seed)
    df["evaluations"] = evaluations
    df["simulations"] = len(simulated)
    df["n"], df["seed"], df["model"] = n, seed, m.name
    _rewarn_but_dose_range(caught)  # the answer's dose range is said here
    fitted = m.validity("dose_mg")
    if fitted and not fitted[0] * (1 - 1e-9) <= root <= fitted[1] * (1 + 1e-9):
        warnings.warn(f"the dose found, {root:.3g} mg, lies outside the {fitted[0]:g}-"
                      f"{fitted[1]:g} mg range the {m.name} model was fitted to; it is "
                      "extrapolated", ExtrapolationWarning, stacklevel=2)
    return df


def _rewarn_but_dose_range(caught: Sequence[str]) -> bool:
    """Warn again what a scan of doses caught, but the model's dose range, which would
    repeat at every dose tried (the caller says it once); True when that one was caught."""
    out = [msg for msg in caught if "per dose lies outside" in msg]
    for msg in dict.fromkeys(caught):
        if msg not in out:
            warnings.warn(msg, ExtrapolationWarning, stacklevel=3)
    return bool(out)


def _bootstrap_interval(tgt: DoseTarget, cache: dict[float, np.ndarray], seed: int,
                        n_boot: int = BOOTSTRAP) -> tuple[float, float]:
    """95 % Monte Carlo interval of the dose: how much it moves with other subjects.

    Each resample draws the simulated subjects with replacement, takes the statistic at
    every dose already evaluated and solves for the target by linear interpolation in
    log dose between them (the statistic is monotone in dose); no new simulation.
    Resamples whose root falls outside the evaluated range count at its end.
    """
    doses = np.array(sorted(cache))
    x = np.stack([cache[d] for d in doses])
    log_d = np.log(doses)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 4242]))
    roots = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, x.shape[1], x.shape[1])
        stat = np.array([tgt.attained(row[idx]) for row in x])
        order = np.argsort(stat, kind="stable")
        roots[b] = np.interp(tgt.value, stat[order], log_d[order])
    lo, hi = np.percentile(roots, [2.5, 97.5])
    return float(np.exp(lo)), float(np.exp(hi))


def _no_root(tgt: DoseTarget, template: Regimen, lo: float, hi: float, at_lo: float,
             at_hi: float, max_tablets: int) -> str:
    """One line: why no dose in the tablet range meets the target, and what to change."""
    text = str(template)
    where = f"{lo:g}-{hi:g} mg {text.split(' mg ', 1)[-1]} (1-{max_tablets} tablets)"
    side = "above" if at_lo > tgt.value else "below"
    said = f"{tgt.statistic} is {at_lo:.3g} at {lo:g} mg and {at_hi:.3g} at {hi:g} mg"
    if tgt.fraction is not None:
        every = ((side == "below") == (tgt.op in ("<", "<=")))
        who = "every" if every else "no"
        return (f"{who} dose of {template.drug} {where} meets {tgt.text} in at "
                f"least {tgt.fraction:.0%} of subjects ({said}); change the target, the "
                "schedule or the most tablets per dose")
    return (f"no dose of {template.drug} {where} reaches {tgt.statistic} = {tgt.value:g}: "
            f"it stays {side} ({said}); change the schedule or the most tablets per dose")


# --- arms ----------------------------------------------------------------------------------


def arm_seed(seed: int, arm: int) -> int:
    """An independent, reproducible seed for arm ``arm`` (0-based) of a parallel trial."""
    return int(np.random.SeedSequence([int(seed), int(arm)]).generate_state(1)[0])


def prob_greater(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y)/2 for independent draws, exactly from the samples (ranks).

    The Mann-Whitney U of ``x`` divided by ``len(x) * len(y)``.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 0 or y.size == 0:
        raise PkdoseError("overlap needs at least one subject per arm")
    ranks = stats.rankdata(np.concatenate([x, y]))  # ties share the mean rank: count 1/2
    u = ranks[:x.size].sum() - x.size * (x.size + 1) / 2
    return float(u / (x.size * y.size))


def n_per_arm(delta: float, sigma: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """Subjects per arm for a two-sided two-sample t-test of a mean difference.

    Starts from the normal approximation n = 2 (z_{1-a/2} + z_{power})^2 sigma^2 / delta^2
    and replaces z by t quantiles with 2n - 2 degrees of freedom until n stops changing;
    then, if needed, raises n until the exact power (:func:`t_test_power`) is reached.

    Parameters
    ----------
    delta : float
        Difference in means (here, of log exposure).
    sigma : float
        Common standard deviation.
    power, alpha : float
        Within (0, 1).

    Returns
    -------
    float
        Whole number of subjects per arm (at least 2); inf when ``delta`` is 0.
    """
    _check_fractions(power=power, alpha=alpha)
    if not (math.isfinite(sigma) and sigma > 0 and math.isfinite(delta)):
        raise PkdoseError(f"need a positive SD and a finite difference, got sigma={sigma!r}, "
                          f"delta={delta!r}")
    if delta == 0:
        return math.inf
    ratio = (sigma / delta) ** 2
    n = max(2.0, math.ceil(2 * (special.ndtri(1 - alpha / 2) + special.ndtri(power)) ** 2
                           * ratio))
    for _ in range(100):
        df = 2 * n - 2
        new = max(2.0, math.ceil(2 * (stats.t.ppf(1 - alpha / 2, df)
                                      + stats.t.ppf(power, df)) ** 2 * ratio))
        if new == n:
            break
        n = new
    # The iteration is the textbook approximation; for small n it can fall short of the
    # exact (noncentral t) power, so step up until that is met too.
    while t_test_power(delta, sigma, n, alpha) < power:
        n += 1
    return float(n)


def t_test_power(delta: float, sigma: float, n: float, alpha: float = 0.05) -> float:
    """Exact power of the two-sided two-sample t-test with n per arm (noncentral t)."""
    if not math.isfinite(n):
        return float("nan")
    df = 2 * n - 2
    nc = abs(delta) / (sigma * math.sqrt(2 / n))
    crit = stats.t.ppf(1 - alpha / 2, df)
    lower = float(stats.nct.cdf(-crit, df, nc))
    if not math.isfinite(lower) and special.ndtr(-nc) < 1e-15:
        # scipy's noncentral t returns NaN in the far lower tail at large nc; that term is
        # below P(T < 0) = Phi(-nc), negligible here.
        lower = 0.0
    return float(stats.nct.sf(crit, df, nc)) + lower


def _check_fractions(option: str | None = None, **values: float) -> None:
    for name, v in values.items():
        if not (isinstance(v, (int, float)) and 0 < v < 1):
            raise PkdoseError(f"{name} must be between 0 and 1 (exclusive), got {v!r}",
                              option=option)


def empirical_power(log_x: np.ndarray, log_y: np.ndarray, n: int, alpha: float = 0.05,
                    n_trials: int = 2000, seed: int = 1) -> float:
    """Fraction of simulated trials whose two-sided t-test on log exposure has p < alpha.

    Each trial resamples ``n`` subjects per arm (with replacement) from the simulated arms.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7919]))
    df = 2 * n - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    hits = 0
    batch = max(1, min(n_trials, 4_000_000 // max(n, 1)))
    for done in range(0, n_trials, batch):
        k = min(batch, n_trials - done)
        a = log_x[rng.integers(0, log_x.size, (k, n))]
        b = log_y[rng.integers(0, log_y.size, (k, n))]
        sp2 = (a.var(axis=1, ddof=1) + b.var(axis=1, ddof=1)) / 2
        t = (a.mean(axis=1) - b.mean(axis=1)) / np.sqrt(sp2 * 2 / n)
        hits += int(np.sum(np.abs(t) > crit))
    return hits / n_trials


#: Above this many subjects per arm the empirical power is not simulated (memory and time).
MAX_SIMULATED_N = 20_000


def compare_arms(regimens: Sequence[Regimen | str], metric: str = "AUC168", n: int = 1000,
                 population=None, seed: int = 1, model: Model | str | None = None,
                 with_: Sequence[str] | str = (), power: float = 0.8, alpha: float = 0.05,
                 n_trials: int = 2000, progress: Progress | None = None) -> pd.DataFrame:
    """Overlap of exposure between arms and subjects per arm to tell them apart.

    Each arm is simulated on its own subjects (seed :func:`arm_seed`), as in a
    parallel-group trial. For every pair of arms (lower and higher median):

    * ``p_higher``: probability that a subject of the higher arm has the higher exposure,
      exactly from the samples (:func:`prob_greater`); 0.5 means no separation;
    * ``p_higher_normal``: the same under log-normality, Phi(delta / (sigma sqrt 2));
    * ``n_per_arm``: two-sample t-test on log exposure (:func:`n_per_arm`) with the
      simulated difference of mean logs (delta) and pooled SD of logs (sigma);
      ``n_per_arm_low`` and ``n_per_arm_high`` are its Monte Carlo interval, from the ends
      of the interval delta +- z SE (``se_delta_log``, the Monte Carlo standard error of
      delta; z from ``pkdose/data/diagnostics.toml``, 1.96);
    * ``separable``: False, and every n infinite, when the arms are the same regimen on
      the same model (``same_regimen``) or |delta| <= z SE: a difference within the Monte
      Carlo error of the simulated arms is no real difference, and a sample size from it
      would be noise;
    * ``power_t``: exact t-test power at that n; ``power_simulated``: the fraction of
      ``n_trials`` resampled trials with p < alpha (NaN above ``MAX_SIMULATED_N`` and
      when not separable).

    Returns
    -------
    DataFrame
        One row per pair: lower_arm, higher_arm, metric, median_lower, median_higher,
        gmr (geometric mean ratio), delta_log, sd_log, se_delta_log, separable,
        same_regimen, n_per_arm_low, n_per_arm_high, p_higher, p_higher_normal,
        n_per_arm, power_t, power_simulated, power, alpha, n_trials, n, seed_lower,
        seed_higher, model.
    """
    from pkdose.simulation import load_regimens

    _check_fractions(power=power, alpha=alpha)
    quantity = metric_quantity(metric)
    if quantity.unit in ("label", "text"):
        raise PkdoseError(f"{metric} is not a number; compare arms on e.g. AUC168 or Cavg")
    column = quantity.column
    regs = [r for item in regimens for r in load_regimens(item)]
    if len(regs) < 2:
        raise PkdoseError("give at least two regimens (arms) to compare")
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise PkdoseError(f"number of subjects must be a whole number >= 2, got {n!r}")
    if not (isinstance(n_trials, (int, np.integer)) and n_trials >= 1):
        raise PkdoseError(f"number of simulated trials must be >= 1, got {n_trials!r}")
    pop = load_population(population)
    arms = []
    for k, reg in enumerate(regs):
        s = arm_seed(seed, k)
        scn = population_scenario(reg, model_of_drug(model, reg), pop, n, s, with_)
        x = np.asarray(evaluate(scn, [column])[column], float)  # the metric compared alone
        if not np.all(np.isfinite(x) & (x > 0)):
            raise PkdoseError(f"{metric} is not positive for every subject of {reg}; "
                              "choose a metric that is (e.g. AUC168, Cavg)")
        arms.append((str(reg), s, x, scn.model.name))
        if progress is not None:
            progress(k + 1, len(regs))
    z = threshold("arms", "separable_z").value
    rows = []
    for a, b in itertools.combinations(arms, 2):
        lo, hi = (a, b) if np.median(a[2]) <= np.median(b[2]) else (b, a)
        ly, lx = np.log(lo[2]), np.log(hi[2])
        delta = float(lx.mean() - ly.mean())
        sigma = float(math.sqrt((lx.var(ddof=1) + ly.var(ddof=1)) / 2))
        se = float(math.sqrt(lx.var(ddof=1) / lx.size + ly.var(ddof=1) / ly.size))
        same = lo[0] == hi[0] and lo[3] == hi[3]
        separable = not same and abs(delta) > z * se
        # n per arm and its Monte Carlo interval (n falls as the difference grows);
        # a difference within Monte Carlo error gives no sample size at all.
        n_arm, n_low, n_high = ((n_per_arm(d, sigma, power, alpha) for d in
                                 (delta, abs(delta) + z * se, abs(delta) - z * se))
                                if separable else (math.inf,) * 3)
        sim = (empirical_power(lx, ly, int(n_arm), alpha, n_trials, seed)
               if n_arm <= MAX_SIMULATED_N else float("nan"))
        rows.append({
            "lower_arm": lo[0], "higher_arm": hi[0], "metric": column,
            "median_lower": float(np.median(lo[2])), "median_higher": float(np.median(hi[2])),
            "gmr": math.exp(delta), "delta_log": delta, "sd_log": sigma,
            "se_delta_log": se, "separable": separable, "same_regimen": same,
            "n_per_arm_low": n_low, "n_per_arm_high": n_high,
            "p_higher": prob_greater(hi[2], lo[2]),
            "p_higher_normal": float(special.ndtr(delta / (sigma * math.sqrt(2)))),
            "n_per_arm": n_arm, "power_t": t_test_power(delta, sigma, n_arm, alpha),
            "power_simulated": sim, "power": power, "alpha": alpha, "n_trials": n_trials,
            "n": n, "seed_lower": lo[1], "seed_higher": hi[1],
            "model": lo[3] if lo[3] == hi[3] else f"{lo[3]}/{hi[3]}"})
    return pd.DataFrame(rows)


# --- therapeutic window --------------------------------------------------------------------


def dose_grid(drug: str, max_tablets: int = 5, max_mg: float = 10.0,
              ratio: float = GRID_RATIO) -> tuple[float, ...]:
    """Tablet doses spaced at least ``ratio`` apart, from the smallest to the largest."""
    doses = tablet_doses(drug, max_tablets, max_mg)
    out = [doses[0]]
    for d in doses[1:]:
        if d >= out[-1] * ratio * (1 - 1e-9):
            out.append(d)
    if out[-1] != doses[-1]:  # always reach the largest dose, keeping the spacing
        if len(out) > 1 and doses[-1] < out[-1] * ratio:
            out[-1] = doses[-1]
        else:
            out.append(doses[-1])
    return tuple(out)


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of points not dominated when both x and y are to be maximised."""
    x, y = np.asarray(x, float)[:, None], np.asarray(y, float)[:, None]
    # Row i, column j: point j dominates point i (at most MAX_SCHEDULES squared booleans).
    dominated = (x.T >= x) & (y.T >= y) & ((x.T > x) | (y.T > y))
    return ~dominated.any(axis=1)


def therapeutic_window(drug: str, mtorc1: float = 0.5, spared: float = 0.8,
                       doses: Sequence[float] | None = None,
                       intervals_days: Sequence[float] = tuple(range(1, 15)),
                       n: int = 50, population=None, seed: int = 1,
                       model: Model | str | None = None, with_: Sequence[str] | str = (),
                       mtorc1_fraction: float | None = None, max_tablets: int = 5,
                       max_mg: float = 10.0, progress: Progress | None = None
                       ) -> pd.DataFrame:
    """Schedules (dose x interval) that engage mTORC1 while keeping mTORC2 spared.

    Every schedule is simulated on the same ``n`` subjects (common random numbers) and
    judged at steady state: mTORC1 engagement is the time-averaged inhibition
    (``mtorc1_mean``), mTORC2 sparing the per-subject verdict ``spared`` (96 h turnover;
    ``docs/population.md``).

    Parameters
    ----------
    drug : str
    mtorc1 : float
        Engagement wanted: population median of mean mTORC1 inhibition >= this (0-1).
    spared : float
        Fraction of subjects that must stay mTORC2-spared (0-1).
    doses : sequence of float, optional
        Doses in mg; default :func:`dose_grid` (tablet doses ~30 % apart up to ``max_mg``).
    intervals_days : sequence of float
        Dosing intervals in days (default 1-14).
    n, population, seed, model, with_ : as :func:`pkdose.population.simulate_population`
    mtorc1_fraction : float, optional
        Judge engagement by the fraction of subjects with mean inhibition >= ``mtorc1``
        (at least this fraction) instead of by the median.
    progress : callable(done, total), optional

    Returns
    -------
    DataFrame
        One row per schedule: dose_mg, interval_days, regimen, weekly_dose_mg,
        mtorc1_median, mtorc1_fraction (subjects with mean inhibition >= ``mtorc1``),
        spared_fraction, ctrough_median_ng_ml, spared_se (binomial standard error of
        spared_fraction), feasible, pareto (not dominated in
        engagement and sparing), n, seed, model.
    """
    name = resolve_drug(drug)
    for label, v in (("mtorc1", mtorc1), ("spared", spared)):
        if not (isinstance(v, (int, float)) and 0 <= v <= 1):
            raise PkdoseError(f"{label} is a fraction; give a value within 0-1, got {v!r}",
                              option=label)
    if mtorc1_fraction is not None and not (isinstance(mtorc1_fraction, (int, float))
                                            and 0 < mtorc1_fraction <= 1):
        raise PkdoseError(f"mTORC1 fraction must be within (0, 1], got {mtorc1_fraction!r}")
    grid = tuple(doses) if doses is not None else dose_grid(name, max_tablets, max_mg)
    days = tuple(intervals_days)
    if not grid or not days:
        raise PkdoseError("give at least one dose and one interval")
    if len(grid) * len(days) > MAX_SCHEDULES:
        raise exceeded("schedules", f"{len(grid):,} doses x {len(days):,} intervals",
                       option=("doses", "intervals_days"))
    for d in days:
        if not (isinstance(d, (int, float)) and math.isfinite(d) and 0 < d <= 28):
            raise PkdoseError(f"intervals must be within 0-28 days, got {d!r}")
    # Every schedule is built, so every dose checked (pkdose.regimen.Dose), before any is
    # simulated; the first simulation checks the number of subjects.
    schedules = [(Regimen(name, (Block(Dose(dose), interval_h=iv * HOURS_PER_DAY),)), dose, iv)
                 for iv in days for dose in grid]
    pop = load_population(population)
    m = population_scenario(schedules[0][0], model, pop, n, seed, with_, warn=False).model
    rows = []
    with warning_messages() as caught:
        for done, (reg, dose, iv) in enumerate(schedules, start=1):
            met = evaluate(population_scenario(reg, m, pop, n, seed, with_),
                           ("mTORC1 mean", "mTORC2 verdict central", "Ctrough"))
            i1 = met["mtorc1_mean"]
            rows.append({"dose_mg": float(dose), "interval_days": float(iv),
                         "regimen": str(reg), "weekly_dose_mg": dose * 7 / iv,
                         "mtorc1_median": float(np.median(i1)),
                         "mtorc1_fraction": float(np.mean(i1 >= mtorc1)),
                         "spared_fraction": float(np.mean(met["mtorc2_verdict_central"]
                                                          == "spared")),
                         "ctrough_median_ng_ml": float(np.median(met["ctrough_ng_ml"]))})
            if progress is not None:
                progress(done, len(schedules))
    fitted = m.validity("dose_mg")
    if _rewarn_but_dose_range(caught) and fitted:
        warnings.warn(f"some doses of the grid lie outside the {fitted[0]:g}-{fitted[1]:g} mg "
                      f"range the {m.name} model was fitted to; they are extrapolated",
                      ExtrapolationWarning, stacklevel=2)
    df = pd.DataFrame(rows)
    engaged = (df["mtorc1_median"] >= mtorc1 if mtorc1_fraction is None
               else df["mtorc1_fraction"] >= mtorc1_fraction)
    p = df["spared_fraction"]
    df["spared_se"] = np.sqrt(p * (1 - p) / n)  # binomial Monte Carlo standard error
    df["feasible"] = engaged & (p >= spared)
    df["pareto"] = pareto_front(df["mtorc1_median"], df["spared_fraction"])
    df["n"], df["seed"], df["model"] = n, seed, m.name
    df.attrs.update(mtorc1=mtorc1, spared=spared, mtorc1_fraction=mtorc1_fraction,
                    population=pop.name)
    return df
