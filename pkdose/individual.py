"""One person's exposure from their measured blood levels: MAP-Bayesian estimation.

>>> from pkdose.individual import estimate, parameters, curve               # doctest: +SKIP
>>> fit = estimate("sirolimus 6 mg weekly", "levels.csv",
...                subjects={"age_y": 67, "weight_kg": 82, "hct_pct": 41})
>>> parameters(fit)                                   # individual vs typical, 90 % intervals
>>> curve(fit)                                        # fitted curve with its 90 % band

The model's between-subject variability (IIV, and one occasion of IOV) is the prior and its
residual error model the likelihood:

    -log p(eta | y) = 1/2 eta' Omega^-1 eta
                      + 1/2 sum_j [ (y_j - f_j(eta))^2 / s_j^2 + log s_j^2 ] + const,
    s_j^2 = (sigma_prop f_j)^2 + sigma_add^2,

a level below its limit of quantification L_j adding -log Phi((L_j - f_j) / s_j) instead
(M3, ``pkdose.censoring``). Levels measured by an immunoassay are first converted to the
LC-MS/MS scale the models predict on (``pkdose.assay``).

The mode (MAP) is found by L-BFGS-B on whitened etas (``eta = L z``, ``L L' = Omega``),
with batched central-difference gradients: every gradient is one call of the vectorised
solver with 2k + 1 subjects. The posterior is sampled by importance resampling from the
Laplace approximation (``_sir``). See ``docs/individual.md``.

Occasions: all measured levels are taken as one occasion, whose occasion effect (IOV) is
estimated with the IIV. Forecasts (steady-state exposure, dose recommendations, missed-dose
options) are new occasions: the posterior draws get a fresh occasion effect from the
model's IOV, and the MAP forecast uses the typical occasion (0).
"""

from __future__ import annotations

import math
import re
import warnings
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
from scipy import optimize, stats

from pkdose.censoring import below_limit, negative_log_likelihood
from pkdose.diagnostics import FitDiagnostics, effective_sample_size, outside_interval, pareto_k
from pkdose.engine import DOSE_PROPORTIONAL
from pkdose.errors import ExtrapolationWarning, FitWarning, PkdoseError
from pkdose.levels import Levels, read_levels
from pkdose.limits import MAX_SUBJECTS, exceeded, whole_number
from pkdose.model import Model, covariate_table, matrix_root
from pkdose.regimen import (
    HOURS_PER_WEEK,
    Block,
    Dose,
    DoseTrain,
    Regimen,
    compile_trains,
    single_doses,
    without_doses,
)
from pkdose.targets import Target, parse_target

#: Posterior percentiles reported as the 90 % band.
BAND = (5.0, 50.0, 95.0)
#: A numerical floor on the residual SD (ng/mL) so that a proportional-only error model
#: does not give an infinitely narrow likelihood where a prediction is 0.
MIN_SD_NG_ML = 0.01
#: Step (whitened eta units) of the central-difference gradient and Hessian.
FD_STEP = 1e-4
HESS_STEP = 1e-3
#: The MAP search stays within this many prior SDs of the typical subject.
Z_BOUND = 8.0
#: Candidate dosing intervals for recommendations: daily, every other day, twice weekly
#: (every 84 h), weekly.
INTERVALS_H = (24.0, 48.0, 84.0, 168.0)
#: Posterior draws used for forecasts on a new regimen (steady state and mTOR engagement
#: on a fine grid): Monte Carlo error of a forecast probability <= 0.5/sqrt(300) = 0.03.
FORECAST_DRAWS = 300
#: Proposal refits of the sampling-importance-resampling step, and the share of its
#: draws taken from the prior (see ``_sir``).
SIR_ROUNDS = 4
DEFENSIVE = 0.2
#: Degrees of freedom of the multivariate-t proposal. With 5, a tenth of simulated
#: sparse Wu 2012 fits had importance weights too heavy-tailed to trust (Pareto k above
#: 0.7, ``pkdose.diagnostics``); with 3 none of the same 30, at the same effective sample
#: size (median 845 against 875 of 4000).
PROPOSAL_DF = 3
# --- the posterior -------------------------------------------------------------------------


def _prior_root(model: Model) -> tuple[np.ndarray, tuple[str, ...], int]:
    """L with L L' = blockdiag(Omega_IIV, Omega_IOV); eta names; number of IIV etas."""
    iiv, iov = model.iiv, model.iov
    k1, k2 = len(iiv.parameters), len(iov.parameters)
    omega = np.zeros((k1 + k2, k1 + k2))
    omega[:k1, :k1] = iiv.matrix
    omega[k1:, k1:] = iov.matrix
    names = tuple(iiv.parameters) + tuple(f"{p} (occasion)" for p in iov.parameters)
    return matrix_root(omega), names, k1


class _Posterior:
    """Negative log posterior of whitened etas, vectorised over rows of ``z``."""

    def __init__(self, model: Model, cov: pd.DataFrame, with_: Sequence[str],
                 levels: Levels) -> None:
        self.model, self.cov, self.with_ = model, cov, tuple(with_)
        self.trains, self.t, self.y = tuple(levels.doses), levels.time_h, levels.conc_ng_ml
        self.censored = levels.below_limit
        self.root, self.eta_names, self.n_iiv = _prior_root(model)
        self.sp = float(model.residual.get("proportional", 0.0))
        self.sa = float(model.residual.get("additive_ng_ml", 0.0))

    def predict(self, z: np.ndarray, times_h: np.ndarray) -> np.ndarray:
        """Whole-blood concentrations (rows of z, times) on the doses taken."""
        from pkdose.simulation import concentrations

        return concentrations(self.prepare(z), self.trains, times_h)["conc_ng_ml"]

    def prepare(self, z: np.ndarray, new_occasion: np.ndarray | None = None,
                with_: Sequence[str] | None = None):
        """Prepared subjects for whitened etas ``z`` (occasion etas replaced if given), on
        the co-medications ``with_`` (default: those of the levels)."""
        from pkdose.simulation import prepare

        z = np.atleast_2d(z)
        eta = z @ self.root.T
        if new_occasion is not None:
            eta = eta.copy()
            eta[:, self.n_iiv:] = new_occasion
        cov = self.cov.loc[np.zeros(len(z), dtype=int)].reset_index(drop=True)
        return prepare(self.model, cov, eta[:, :self.n_iiv], eta[:, self.n_iiv:],
                       with_=self.with_ if with_ is None else with_)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(z)
        prior = 0.5 * np.sum(z * z, axis=1)
        if self.y.size == 0:
            return prior
        f = self.predict(z, self.t)
        var = (self.sp * f) ** 2 + self.sa ** 2 + MIN_SD_NG_ML ** 2
        out = prior + negative_log_likelihood(self.y, f, var, self.censored)
        return np.where(np.isfinite(out), out, np.inf)


def _value_and_grad(post: _Posterior, z: np.ndarray) -> tuple[float, np.ndarray]:
    k = z.size
    step = FD_STEP * np.eye(k)
    v = post(np.vstack([z, z + step, z - step]))
    return float(v[0]), (v[1:k + 1] - v[k + 1:]) / (2 * FD_STEP)


def _hessian(post: _Posterior, z: np.ndarray) -> np.ndarray:
    """Central-difference Hessian, every stencil point in one batched call."""
    k, h = z.size, HESS_STEP
    e = h * np.eye(k)
    i, j = np.triu_indices(k, 1)
    corners = [z + a * e[i] + b * e[j] for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
    v = post(np.vstack([z, z + e, z - e, *corners]))
    f0, fp, fm = v[0], v[1:k + 1], v[k + 1:2 * k + 1]
    pp, pm, mp, mm = v[2 * k + 1:].reshape(4, -1)
    hess = np.diag((fp - 2 * f0 + fm) / h ** 2)
    hess[i, j] = hess[j, i] = (pp - pm - mp + mm) / (4 * h * h)
    return hess


def _sir(post: _Posterior, loc: np.ndarray, shape: np.ndarray, n: int,
         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Importance draws, their log weights and normalised weights from an adapted
    defensive mixture.

    The proposal is a multivariate t (``PROPOSAL_DF`` df) at the Laplace approximation
    mixed with the prior (a share ``DEFENSIVE`` of the draws), so that no region the prior
    allows is left unsampled (defensive importance sampling, Hesterberg 1995): a few
    precise levels can leave a curved or multimodal posterior that a Laplace proposal alone
    misses. Where the effective sample size stays below a quarter of the draws, the t part
    is refitted to the weighted draws, up to ``SIR_ROUNDS`` times; the round with the
    largest effective sample size is kept (a refit can also do worse).
    """
    k = loc.size
    n_prior = int(round(DEFENSIVE * n))
    prior = stats.multivariate_normal(np.zeros(k), np.eye(k))
    best = None
    for _ in range(SIR_ROUNDS):
        proposal = stats.multivariate_t(loc=loc, shape=shape, df=PROPOSAL_DF, seed=rng)
        draws = np.vstack([proposal.rvs(n - n_prior).reshape(-1, k),
                           rng.standard_normal((n_prior, k))])
        log_q = np.logaddexp(np.log1p(-DEFENSIVE) + proposal.logpdf(draws).reshape(-1),
                             np.log(DEFENSIVE) + prior.logpdf(draws).reshape(-1))
        # The posterior lives in the box the MAP is searched in (|z| <= Z_BOUND; the prior
        # mass outside it is ~1e-15): a draw from the t proposal's far tail gets weight 0
        # without being solved (z ~ -100 gave Mo 2025 a peripheral volume of 1e-10 L, whose
        # matrix exponential cannot be formed).
        inside = np.all(np.abs(draws) <= Z_BOUND, axis=1)
        logw = np.full(len(draws), -np.inf)
        logw[inside] = -post(draws[inside]) - log_q[inside]
        logw = np.where(np.isfinite(logw), logw, -np.inf)
        wts = np.exp(logw - logw.max())
        wts /= wts.sum()
        ess = effective_sample_size(wts)
        if best is None or ess > best[3]:
            best = (draws, logw, wts, ess)
        if ess >= n / 4:
            break
        loc = wts @ draws
        dev = draws - loc
        shape = (dev * wts[:, None]).T @ dev + 1e-6 * np.eye(k)
    return best[:3]


@dataclass(frozen=True)
class Fit:
    """An individual's posterior: MAP etas and SIR draws (whitened), and whether the fit
    holds (``diagnostics``)."""

    model: Model
    regimen: Regimen
    levels: Levels
    cov: pd.DataFrame
    eta_names: tuple[str, ...]
    mode_z: np.ndarray
    samples_z: np.ndarray
    ess: float
    objective: float
    post: _Posterior
    diagnostics: FitDiagnostics
    seed: int = 1

    @property
    def mode(self) -> np.ndarray:
        """MAP etas (IIV then occasion) on the model's log scale."""
        return self.post.root @ self.mode_z

    @property
    def samples(self) -> np.ndarray:
        """Posterior draws of the etas, (n_samples, k)."""
        return self.samples_z @ self.post.root.T

    def new_occasions(self) -> np.ndarray:
        """Fresh occasion etas ~ N(0, Omega_IOV), one per posterior draw (reproducible)."""
        k = len(self.model.iov.parameters)
        z = np.random.default_rng([self.seed, 2]).standard_normal((len(self.samples_z), k))
        return z @ matrix_root(self.model.iov.matrix).T  # (n, 0) without IOV


def estimate(regimen: Regimen | str, levels: Levels | str | pd.DataFrame,
             model: Model | str | None = None, subjects=None,
             with_: Sequence[str] | str = (), first_dose: str | None = None,
             n_proposals: int = 4000, n_samples: int = 1000, seed: int = 1,
             assay: str | None = None) -> Fit:
    """MAP estimate and posterior of one person's parameters from measured levels.

    Parameters
    ----------
    regimen : Regimen or str
        The regimen the person follows, e.g. ``"sirolimus 6 mg weekly"``.
    levels : Levels, CSV path or DataFrame
        See :func:`read_levels`; an empty table gives the prior.
    model : Model, name, path or None (the drug's default)
    subjects : mapping of covariates (one person)
    with_ : co-medications (``pkdose.interactions``)
    first_dose : clock time of the first dose, for levels given as clock times
    n_proposals, n_samples : SIR proposal draws and posterior draws kept
    seed : random seed of the proposal and resampling
    assay : the method of levels that name none (``pkdose.assay``; default: LC-MS/MS)

    Returns
    -------
    Fit
    """
    from pkdose.engine import scenario
    from pkdose.simulation import outside_dose_range

    scn = scenario(regimen, model, subjects, with_=with_)
    reg, m, cov, comed = scn.regimen, scn.model, scn.prep.cov, list(scn.comedication)
    if not (m.residual.get("proportional") or m.residual.get("additive_ng_ml")):
        raise PkdoseError(f"model {m.name} states no residual error, which MAP estimation "
                          "needs as its likelihood")
    for name, v, low in (("n_proposals", n_proposals, 1), ("n_samples", n_samples, 1),
                         ("seed", seed, 0)):
        whole_number(name, v, low)  # numpy's TypeError or ValueError came through
    if n_samples > n_proposals:
        raise PkdoseError("need 1 <= n_samples <= n_proposals")
    if n_proposals > MAX_SUBJECTS:  # each proposal is a simulated subject (23 GB at 10^9)
        raise exceeded("subjects", f"{n_proposals:,} proposal draws")
    lev = levels if isinstance(levels, Levels) else read_levels(levels, reg, first_dose, assay)
    if len(cov) != 1:
        raise PkdoseError("individual estimation is for one person; give one row of covariates")
    for msg in outside_dose_range(m, [tr.amount for tr in lev.recorded], "recorded doses: "):
        warnings.warn(msg, ExtrapolationWarning, stacklevel=2)
    post = _Posterior(m, cov, comed, lev)
    root, names, k = post.root, post.eta_names, len(post.eta_names)
    rng = np.random.default_rng(seed)
    if k == 0:
        raise PkdoseError(f"model {m.name} has no between-subject variability to estimate")
    def search(z0: np.ndarray):
        return optimize.minimize(lambda z: _value_and_grad(post, z), z0, jac=True,
                                 method="L-BFGS-B", bounds=[(-Z_BOUND, Z_BOUND)] * k,
                                 options={"maxiter": 500})

    best = search(np.zeros(k))
    if lev.time_h.size:
        # A search from the typical subject that ends worse than some prior draw has
        # found a poor local mode (a few levels can leave several, e.g. fast absorption
        # vs a large volume): search again from the best of 256 prior draws.
        trial = rng.standard_normal((256, k))
        values = post(trial)
        if values.min() < best.fun:
            again = search(trial[int(np.argmin(values))])
            best = again if again.fun < best.fun else best
    mode = best.x
    w, v = np.linalg.eigh(_hessian(post, mode))
    # The prior alone contributes the identity; a smaller curvature is finite-difference
    # noise or a point off the mode, and is floored rather than inverted.
    lap = (v / np.maximum(w, 0.05)) @ v.T
    draws, logw, wts = _sir(post, mode, lap, n_proposals, rng)
    keep = rng.choice(n_proposals, size=n_samples, replace=True, p=wts)
    diag = _diagnose(best, w, v, names, draws[keep] @ root.T, root @ mode, logw, wts)
    if not diag.holds:
        warnings.warn(f"the fit does not hold ({'; '.join(diag.problems)}), so its "
                      f"estimates are not reliable: {FIT_ADVICE}", FitWarning, stacklevel=2)
    return Fit(m, reg, lev, cov, names, mode, draws[keep], float(diag.ess),
               float(best.fun), post, diag, seed)


#: What to do about a fit that does not hold (after the list of what failed).
FIT_ADVICE = ("check the units (ng/mL, mg) and times of the levels and doses, and the "
              "regimen, or add levels")


def _diagnose(best: optimize.OptimizeResult, hess_w: np.ndarray, hess_v: np.ndarray,
              names: Sequence[str], samples_eta: np.ndarray, mode_eta: np.ndarray,
              logw: np.ndarray, wts: np.ndarray) -> FitDiagnostics:
    """The checks of :class:`FitDiagnostics` for a search result, the Hessian at its end
    (eigenvalues, vectors) and the importance sample."""
    x, g = best.x, np.asarray(best.jac, float)
    upper, lower = x >= Z_BOUND * (1 - 1e-6), x <= -Z_BOUND * (1 - 1e-6)
    # At a bound only the gradient pointing into the box counts (projected gradient).
    g = np.where((upper & (g < 0)) | (lower & (g > 0)), 0.0, g)
    decrement = (math.sqrt(float(np.sum((hess_v.T @ g) ** 2 / hess_w)))
                 if hess_w.min() > 0 else math.nan)
    return FitDiagnostics(
        optimizer_success=bool(best.success), optimizer_message=str(best.message),
        iterations=int(best.nit), gradient_norm=float(np.linalg.norm(g)),
        newton_decrement=decrement, hessian_min_eigenvalue=float(hess_w.min()),
        at_bound=tuple(n for n, b in zip(names, upper | lower, strict=True) if b),
        ess=effective_sample_size(wts), n_proposals=int(wts.size),
        max_weight_share=float(wts.max()), pareto_k=pareto_k(logw),
        map_outside=outside_interval(mode_eta, samples_eta, names))


# --- what the posterior says ---------------------------------------------------------------


def _pct(x: np.ndarray) -> np.ndarray:
    return np.percentile(x, BAND, axis=0)


def _map_typical_draws(fit: Fit) -> np.ndarray:
    """Whitened etas of the MAP, the typical subject (0) and the posterior draws, stacked."""
    return np.vstack([fit.mode_z, np.zeros_like(fit.mode_z), fit.samples_z])


def _predicted(fit: Fit, times_h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MAP and typical concentrations at ``times_h``, and the posterior band (``BAND``)."""
    conc = fit.post.predict(_map_typical_draws(fit), times_h)
    return conc[0], conc[1], _pct(conc[2:])


def _typical_values(model: Model, cov: pd.DataFrame, name: str) -> float:
    """A parameter's typical value for this person's covariates (eta = 0)."""
    value = model.typical(name)
    for eff in model.effects:
        if eff.parameter == name:
            value *= float(eff.multiplier(cov[eff.covariate])[0])
    return value


def parameters(fit: Fit) -> pd.DataFrame:
    """Individual parameters vs the typical values for the person's covariates.

    One row per parameter with variability, plus the apparent oral clearance CL/F that
    every model derives: ``typical`` (eta = 0), ``individual`` (MAP), the posterior
    ``p5, p50, p95``, ``change_pct`` (MAP vs typical) and ``information_pct``
    (100 (1 - posterior SD / prior SD) of the eta: 0 when the levels say nothing about
    the parameter).
    """
    m, post = fit.model, fit.post
    eta_map, eta_s = fit.mode, fit.samples
    prior_sd = np.sqrt(np.diag(post.root @ post.root.T))
    rows = []
    for j, label in enumerate(fit.eta_names):
        name = label.split(" ")[0]
        var = m.iov if label.endswith("(occasion)") else m.iiv
        typ = _typical_values(m, fit.cov, name)
        values = var.individual(name, typ, np.r_[eta_map[j], eta_s[:, j]])  # MAP, draws
        ind, q = float(values[0]), _pct(values[1:])
        change = math.expm1(eta_map[j]) if name not in var.logit else ind / typ - 1.0
        rows.append({"parameter": label, "unit": m.parameters[name].unit, "typical": typ,
                     "individual": ind, "p5": q[0], "p50": q[1],
                     "p95": q[2], "change_pct": 100 * change,
                     "information_pct": 100 * (1 - float(eta_s[:, j].std()) / prior_sd[j])
                     if prior_sd[j] > 0 else math.nan})
    # CL/F as the solver sees it (after the liver model, F and the occasion effect).
    p = post.prepare(_map_typical_draws(fit)).params
    ind, typ, clf_draws = np.split(p["cl"] / p["f"], [1, 2])
    ind, typ, q = float(ind[0]), float(typ[0]), _pct(clf_draws)
    rows.append({"parameter": "CL/F (apparent)", "unit": "L/h", "typical": typ,
                 "individual": ind, "p5": q[0], "p50": q[1], "p95": q[2],
                 "change_pct": 100 * (ind / typ - 1), "information_pct": math.nan})
    return pd.DataFrame(rows)


def fitted_levels(fit: Fit) -> pd.DataFrame:
    """Measured vs predicted at the sampling times: typical, individual (MAP), 90 % band.

    The band is of the predicted (true) concentration; a measurement also carries the
    model's residual error, given as ``residual_sd_ng_ml`` at the MAP prediction.
    ``measured_ng_ml`` is on the LC-MS/MS scale (for a censored level, its limit),
    ``reported_ng_ml`` as the laboratory reported it on its ``assay``.
    """
    lev, post = fit.levels, fit.post
    ind, typ, q = _predicted(fit, lev.time_h)  # no levels: the frame with its columns
    return pd.DataFrame({"time": lev.clock(lev.time_h), "time_h": lev.time_h,
                         "measured_ng_ml": lev.conc_ng_ml, "typical_ng_ml": typ,
                         "individual_ng_ml": ind, "p5_ng_ml": q[0], "p95_ng_ml": q[2],
                         "residual_sd_ng_ml": np.sqrt((post.sp * ind) ** 2 + post.sa ** 2),
                         "censored": lev.below_limit, "reported_ng_ml": lev.as_measured,
                         "assay": lev.methods()})


def _period(reg: Regimen) -> float:
    return float(reg.steady_state_period_h() or HOURS_PER_WEEK)


def curve(fit: Fit, until_h: float | None = None, step_h: float = 0.5) -> pd.DataFrame:
    """The person's predicted curve with its 90 % band and the typical subject's curve.

    Columns: ``time_h``, ``time`` (clock), ``conc_ng_ml`` (MAP), ``p5``, ``p50``, ``p95``
    (posterior band of the predicted concentration), ``typical_ng_ml``. Default horizon:
    one regimen period past the last level or recorded dose.
    """
    lev = fit.levels
    if until_h is None:
        last = max([0.0, *lev.time_h, *(tr.t0_h for tr in lev.doses if tr.n == 1)])
        until_h = last + _period(fit.regimen)
    from pkdose.simulation import time_grid

    t = time_grid(float(until_h), step_h)
    ind, typ, q = _predicted(fit, t)
    return pd.DataFrame({"time_h": t, "time": lev.clock(t), "conc_ng_ml": ind,
                         "p5": q[0], "p50": q[1], "p95": q[2], "typical_ng_ml": typ})


def _forecast_subjects(fit: Fit, regimen: Regimen | None = None):
    """The prepared subjects of a forecast, each on a new occasion: the MAP estimate (a
    typical occasion) and the first FORECAST_DRAWS posterior draws (a random subset; a fresh
    occasion each), on the co-medications of ``regimen`` (default: the fit's)."""
    with_ = None if regimen is None else [str(c) for c in regimen.comedications]
    n = min(FORECAST_DRAWS, len(fit.samples_z))
    occasions = fit.new_occasions()[:n]
    return (fit.post.prepare(fit.mode_z, np.zeros((1, occasions.shape[1])), with_),
            fit.post.prepare(fit.samples_z[:n], occasions, with_))


#: Metrics shown for an individual forecast, in order (engine registry names).
FORECAST_METRICS = ("Ctrough", "Cmin", "Cmax", "Cavg", "AUC168", "Tabove 4", "mTORC1 mean",
                    "mTORC2 mean", "mTORC2 min")
#: Grid step (h) of the steady-state cycle for posterior draws and dose searches: the PD
#: recurrences are exact for piecewise-linear input and mTORC2 turns over in days.
TARGET_STEP_H = 0.5


def _metrics(reg: Regimen, prep, metrics: Sequence[str], coarse: bool = False
             ) -> Mapping[str, np.ndarray]:
    """The engine's metrics of prepared subjects on ``reg``; ``coarse`` uses the 0.5 h
    cycle grid (steady state only) for many draws or candidates."""
    from pkdose.engine import METRIC_STEP_H, bind, evaluate

    step = TARGET_STEP_H if coarse and reg.is_indefinite else METRIC_STEP_H
    return evaluate(bind(reg, prep), metrics, step_h=step)


def _forecast_regimen(fit: Fit, regimen: Regimen | str | None) -> Regimen:
    """The regimen a forecast is for (default: the current one), held to the fit's model as
    ``scenario`` holds a new one: the same drug, a route it takes, a dose outside its data
    warned about, with the person's co-medications (the forecast subjects take them)."""
    from pkdose.simulation import as_regimen, check_extrapolation, resolve_model

    if regimen is None:
        return fit.regimen
    reg = as_regimen(regimen).with_comedications(fit.regimen.comedications)
    resolve_model(reg, fit.model)
    check_extrapolation(fit.model, reg, fit.cov)
    return reg


def exposure(fit: Fit, regimen: Regimen | str | None = None) -> pd.DataFrame:
    """The person's exposure and mTOR engagement on a regimen (default: the current one).

    Steady-state cycle for regimens that go on, first week for those that stop, as the
    answer engine gives them (:mod:`pkdose.engine`). One row per metric: ``individual``
    (MAP, a typical new occasion), posterior ``p5, p50, p95`` (FORECAST_DRAWS draws, a
    fresh occasion each, steady state on a 0.5 h grid) and ``typical`` (the model's
    typical subject with the person's covariates); then one row per mTORC2 verdict (as
    ``pkdose flag`` judges it) with the posterior ``probability``.
    """
    from pkdose.engine import quantity
    from pkdose.results import VERDICT_LABELS

    reg = _forecast_regimen(fit, regimen)
    want = (*FORECAST_METRICS, "mTORC2 verdict")
    # The regimen's own co-medications too (one given with it was left out of the numbers).
    prep_map, prep_draws = _forecast_subjects(fit, reg)
    point = _metrics(reg, prep_map, want)
    draws = _metrics(reg, prep_draws, want, coarse=True)
    typ = _metrics(reg, fit.post.prepare(np.zeros_like(fit.mode_z), None,
                                         [str(c) for c in reg.comedications]), want)
    rows = [{"metric": key, "individual": float(point[key][0]), "typical": float(typ[key][0]),
             **dict(zip(("p5", "p50", "p95"), _pct(np.asarray(draws[key], float)),
                        strict=True))}
            for key in (quantity(k).column for k in FORECAST_METRICS)]
    label = quantity("mTORC2 verdict").column
    rows += [{"metric": f"mtorc2 {v}", "individual": float(point[label][0] == v),
              "typical": float(typ[label][0] == v),
              "probability": float(np.mean(np.asarray(draws[label]) == v))}
             for v in VERDICT_LABELS]
    return pd.DataFrame(rows, columns=["regimen", "metric", "individual", "p5", "p50", "p95",
                                       "typical", "probability"]).assign(regimen=str(reg))


def verdict(fit: Fit, regimen: Regimen | str | None = None):
    """The full mTORC2 verdict (every turnover half-life, the threshold rules, the
    reasons; as ``pkdose flag``) of the person's MAP forecast on a regimen (default: the
    current one), with a typical new occasion."""
    from pkdose.engine import bind, verdicts

    reg = _forecast_regimen(fit, regimen)
    return verdicts(bind(reg, _forecast_subjects(fit, reg)[0]))[0]


# --- dose recommendation -------------------------------------------------------------------


def dose_target(text: str | Target, drug: str | None = None, assay: str | None = None
                ) -> Target:
    """A target a person's dose can aim at (``pkdose.targets`` grammar): a range
    (``trough 5-10``), a value (``AUC168 400``, met within 80-125 %) or ``mTORC2 spared``;
    with ``drug``, a target stated for an immunoassay (``trough 5-10 by CMIA``, or
    ``assay``) is put on the LC-MS/MS scale."""
    tgt = parse_target(text)
    if drug is not None:
        tgt = tgt.on_lcms_scale(drug, assay)
    if tgt.quantile is not None:
        raise PkdoseError(f"target {tgt.text!r} is a population statistic; for one person "
                          "write e.g. \"trough 5-10\" or \"AUC168 400\"")
    if tgt.op == "label" and tgt.label != "spared":
        raise PkdoseError(f"target {tgt.text!r}: a dose can aim at mTORC2 spared only")
    if tgt.op != "label" and tgt.column not in DOSE_PROPORTIONAL:
        raise PkdoseError(f"target {tgt.text!r}: a dose can aim at "
                          f"{', '.join(DOSE_PROPORTIONAL)} or mTORC2 spared")
    if tgt.op not in ("range", "point", "label"):
        raise PkdoseError(f"target {tgt.text!r}: give a range or a value for one person, "
                          "e.g. \"trough 5-10\" or \"AUC168 400\"")
    return tgt


def _candidate(fit: Fit, dose: float, interval_h: float) -> Regimen:
    # With the person's co-medications, as _forecast_regimen holds a regimen: one that
    # starts or stops leaves no steady state, and the candidate is judged over the course.
    return Regimen(fit.regimen.drug, (Block(Dose(float(dose)), interval_h=float(interval_h)),),
                   comedications=fit.regimen.comedications)


def recommend(fit: Fit, target: str | Target, max_tablets: int = 4,
              intervals_h: Sequence[float] = INTERVALS_H, shortlist: int = 3,
              min_probability: float = 0.9) -> pd.DataFrame:
    """Doses (marketed tablets) and intervals ranked by how well they meet a target.

    Every tablet-made dose (at most ``max_tablets`` tablets, within the model's dose
    range) at every interval is first screened on the MAP forecast; the ``shortlist``
    doses per interval closest to the target go to the posterior, where the probability
    of meeting the target is the fraction of posterior draws (fresh occasion each) that
    meet it. Ranking: highest probability; within 0.05 of the best, the person's current
    interval first, then the smallest weekly dose. For ``mTORC2 spared`` the aim is the
    most mTORC1 inhibition with P(spared) >= ``min_probability``.

    Returns one row per shortlisted candidate, best first: regimen, dose_mg, interval_h,
    weekly_mg, probability, the target metric (MAP and p5/p95), mTORC1 mean, mTORC2
    verdict (MAP).
    """
    from pkdose.drugs import tablet_doses

    drug = fit.regimen.drug
    tgt = dose_target(target, drug)
    rng = fit.model.validity("dose_mg")
    doses = tablet_doses(drug, max_tablets, rng[1] if rng else math.inf)
    prep_map, prep_draws = _forecast_subjects(fit)
    mtor = tgt.column == "mtorc2_verdict"
    col = "mtorc1_mean" if mtor else tgt.column
    want = (col, "mTORC1 mean", "mTORC2 verdict") if mtor else (col,)

    def too_high(ii: float, i: int) -> bool:
        # Exposure rises with the dose at a fixed interval, so the doses split in two.
        v = _metrics(_candidate(fit, doses[i], ii), prep_map, want, coarse=True)
        if mtor:
            return v["mtorc2_verdict"][0] != "spared"
        return float(v[col][0]) > tgt.centre

    short = []
    for ii in intervals_h:
        # The first dose that is too high, by bisection.
        lo = bisect_left(range(len(doses)), True, key=partial(too_high, ii))
        around = (range(lo - shortlist, lo) if mtor
                  else range(lo - shortlist // 2 - shortlist % 2, lo + shortlist // 2))
        short += [(doses[i], ii) for i in around if 0 <= i < len(doses)]
    if not short:
        raise PkdoseError(f"no tablet dose meets {tgt.text!r} for this person on the MAP "
                          "forecast; allow more tablets per dose or aim at another target",
                          option="max_tablets")
    rows = []
    for d, ii in short:
        reg = _candidate(fit, d, ii)
        v = _metrics(reg, prep_draws, want, coarse=True)
        vm = _metrics(reg, prep_map, (col, "mTORC1 mean", "mTORC2 verdict"))
        q = _pct(np.asarray(v[col], float))
        rows.append({"regimen": str(reg), "dose_mg": d, "interval_h": ii,
                     "weekly_mg": d * HOURS_PER_WEEK / ii,
                     "probability": float(np.mean(tgt.met(v))), "metric": col,
                     "individual": float(vm[col][0]), "p5": q[0], "p95": q[2],
                     "mtorc1_mean": float(vm["mtorc1_mean"][0]),
                     "mtorc2_verdict": vm["mtorc2_verdict"][0]})
    df = pd.DataFrame(rows)
    p = df["probability"].to_numpy()
    # np.lexsort: the last key sorts first; ties keep the screening order.
    if mtor:
        keys = (-p, -df["mtorc1_mean"].to_numpy(), p < min_probability)
    else:
        near = p >= p.max() - 0.05
        keys = (-p, np.where(near, df["weekly_mg"], 0.0),
                near & (df["interval_h"].to_numpy() != _period(fit.regimen)), ~near)
    df = df.iloc[np.lexsort(keys)].reset_index(drop=True)
    df.insert(0, "target", tgt.text)
    return df


# --- missed and late doses -----------------------------------------------------------------


def _scheduled(fit: Fit, when: str) -> DoseTrain:
    """The dose ``when`` names (a date, a clock time or hours), as a single-dose train."""
    lev = fit.levels
    text = str(when).strip()
    is_day = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text)) and lev.origin is not None
    t = lev.hours(text)
    doses = single_doses(lev.doses, t + 48.0)
    if not doses:
        raise PkdoseError(f"no dose is scheduled by {text!r}")
    times = np.array([d.t0_h for d in doses])
    if is_day:
        hits = [i for i, c in enumerate(lev.clock(times)) if c.startswith(text)]
        if not hits:
            raise PkdoseError(f"no dose is scheduled on {text}; doses nearby: "
                              f"{', '.join(lev.clock(times[-3:]))}")
        return doses[hits[0]]
    i = int(np.argmin(np.abs(times - t)))
    if abs(times[i] - t) > 12:
        raise PkdoseError(f"no dose is scheduled within 12 h of {text!r}; nearest: "
                          f"{lev.clock(times[i:i + 1])[0] or f'{times[i]:g} h'}")
    return doses[i]


def dose_options(fit: Fit, when: str, delay_h: float | None = None, late: bool = False,
                 step_h: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predicted exposure for each way of handling one missed or late dose.

    Parameters
    ----------
    when : str
        The scheduled dose: a date (``2026-03-09``), a clock time or hours since the
        first dose.
    delay_h : float
        Hours after the scheduled time when the dose is (or would be) taken; default
        half the dosing interval, at most 24 h.
    late : bool
        The dose was taken late (options: keep the schedule, or shift it); otherwise it
        was missed (options also include skipping it).

    Returns
    -------
    (options, curves)
        ``options``: one row per option over the two dosing periods from the scheduled
        time: lowest and highest level and AUC as % of the dose taken on time (MAP and
        posterior p5/p95). ``curves``: time_h, time and one MAP column per option.
        This is pharmacology, not advice on what a patient should do.
    """
    dose = _scheduled(fit, when)
    t_s = dose.t0_h
    trains = fit.levels.doses
    # The one implementation of a missed dose, as the regimen word 'missed dose N'.
    skipped = without_doses(trains, t_s - 1e-6, t_s + 1e-6)[0]
    before = [tr for tr in skipped if tr.t0_h < t_s]
    after = [tr for tr in skipped if tr.t0_h > t_s]
    interval = (min(tr.t0_h for tr in after) - t_s) if after else _period(fit.regimen)
    if delay_h is None:
        delay_h = min(24.0, interval / 2)
    if not 0 < delay_h < interval:
        raise PkdoseError(f"the delay must be between 0 and the {interval:g} h to the next "
                          f"dose, got {delay_h:g} h")
    late_dose = replace(dose, t0_h=t_s + delay_h)
    hours = f"{delay_h:g} h late"
    opts = {"on time (as scheduled)": list(trains)}
    if not late:
        opts["skip it, next dose as scheduled"] = skipped
    what = "taken" if late else "take it"
    opts[f"{what} {hours}, keep the schedule"] = before + [late_dose] + after
    opts[f"{what} {hours}, shift later doses by {delay_h:g} h"] = (
        before + [late_dose] + [replace(tr, t0_h=tr.t0_h + delay_h) for tr in after])
    window = 2 * max(interval, _period(fit.regimen))
    from pkdose.exposure import interval_metrics
    from pkdose.simulation import concentrations, time_grid

    t = time_grid(t_s + window, step_h, t_s)

    def summary(prep, trains: Sequence[DoseTrain]) -> dict[str, np.ndarray]:
        c = concentrations(prep, trains, t)["conc_ng_ml"]
        # Grid extremes: a dose time is a kink, where a fitted parabola can overshoot.
        return {"curve": c[0], "lowest_ng_ml": c.min(axis=1), "highest_ng_ml": c.max(axis=1),
                "auc": interval_metrics(t - t[0], c, above=(), below=(),
                                        periodic=False)["auctau_ng_h_ml"]}

    preps = _forecast_subjects(fit)
    rows, curves, on_time = [], {"time_h": t, "time": fit.levels.clock(t)}, None
    for label, tr in opts.items():
        mm, ms = (summary(prep, tr) for prep in preps)
        if on_time is None:
            on_time = (mm["auc"], ms["auc"])
        for m, ref in zip((mm, ms), on_time, strict=True):
            m["auc_pct_of_on_time"] = 100 * m["auc"] / ref
        row = {"option": label}
        for col, prefix in (("lowest_ng_ml",) * 2, ("highest_ng_ml",) * 2,
                            ("auc_pct_of_on_time", "auc_pct")):
            q = _pct(ms[col])
            row.update({col: float(mm[col][0]), f"{prefix}_p5": q[0], f"{prefix}_p95": q[2]})
        rows.append(row)
        curves[label] = mm["curve"]
    out = pd.DataFrame(rows)
    out.insert(0, "window", f"{window:g} h from the scheduled dose")
    out.insert(0, "scheduled", fit.levels.clock([t_s])[0] or f"{t_s:g} h")
    return out, pd.DataFrame(curves)


# --- simulated levels (designs, recovery checks) -------------------------------------------


def simulate_levels(regimen: Regimen | str, times_h: Sequence[float], n: int,
                    model: Model | str | None = None, subjects=None, seed: int = 1,
                    lloq_ng_ml: float | None = None) -> tuple[list[Levels], np.ndarray]:
    """Levels of ``n`` subjects drawn from the model: IIV, one occasion, residual error.

    Returns the levels (hours since the first dose; without ``lloq_ng_ml`` simulated
    measurements can be <= 0 where the additive error dominates, as in the model; with
    it, measurements below the limit are censored at it) and the true etas (IIV then
    occasion), (n, k), for checking estimates against the truth.
    """
    from pkdose.population import check_times
    from pkdose.simulation import as_regimen, concentrations, prepare, resolve_model

    whole_number("number of subjects", n)
    reg = as_regimen(regimen)
    m = resolve_model(reg, model, subjects=subjects)
    root, _, k1 = _prior_root(m)
    rng = np.random.default_rng(seed)
    eta = rng.standard_normal((n, root.shape[0])) @ root.T
    t = np.asarray(check_times(times_h), float)  # an IndexError for negative times
    cov, trains = covariate_table(subjects, n=n), compile_trains(reg)
    f = concentrations(prepare(m, cov, eta[:, :k1], eta[:, k1:]), trains, t)["conc_ng_ml"]
    sp = float(m.residual.get("proportional", 0.0))
    sa = float(m.residual.get("additive_ng_ml", 0.0))
    y = f * (1 + sp * rng.standard_normal(f.shape)) + sa * rng.standard_normal(f.shape)
    blq = np.zeros(y.shape, bool)
    if lloq_ng_ml is not None:
        blq = below_limit(y, lloq_ng_ml)
        y = np.where(blq, lloq_ng_ml, y)
    return [Levels(t.copy(), y[i], trains, censored=blq[i]) for i in range(n)], eta
