"""Whether pkdose's own numerical answers hold: fit diagnostics and Monte Carlo error.

An individual fit (:func:`pkdose.individual.estimate`) is a mode found by an optimiser and
a posterior sampled by importance sampling; either can fail quietly when levels are in the
wrong unit or at the wrong time, or simply say something the model cannot explain.
:class:`FitDiagnostics` collects the checks and says, in words, which do not hold. The
thresholds, with their sources and reasons, live in ``pkdose/data/diagnostics.toml``
(:func:`threshold`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["FitDiagnostics", "Threshold", "effective_sample_size", "outside_interval", "pareto_k",
           "pareto_k_threshold", "threshold"]


@dataclass(frozen=True)
class Threshold:
    """One threshold of ``pkdose/data/diagnostics.toml``: value, unit, source and why."""

    name: str
    value: float
    unit: str
    source: str
    why: str


@lru_cache(maxsize=1)
def _table() -> dict:
    with resources.files("pkdose.data").joinpath("diagnostics.toml").open("rb") as fh:
        return tomllib.load(fh)


def threshold(section: str, name: str) -> Threshold:
    """The threshold ``[section.name]`` of ``pkdose/data/diagnostics.toml``."""
    row = _table()[section][name]
    return Threshold(f"{section}.{name}", float(row["value"]), row["unit"], row["source"],
                     row["why"])


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size 1 / sum(w^2) of weights normalised to sum to 1."""
    w = np.asarray(weights, float)
    w = w / w.sum()
    return float(1.0 / np.sum(w * w))


def pareto_k_threshold(n_draws: int) -> float:
    """Largest reliable Pareto k for ``n_draws`` importance draws (Vehtari et al. 2024):
    ``min(1 - 1/log10(S), cap)``, the cap from ``diagnostics.toml``."""
    cap = threshold("individual", "max_pareto_k").value
    return min(1.0 - 1.0 / math.log10(n_draws), cap) if n_draws > 10 else -math.inf


def _gpd_shape(x: np.ndarray) -> float:
    """Shape xi of a generalised Pareto distribution fitted to exceedances ``x`` (> 0,
    ascending) by the empirical-Bayes profile estimator of Zhang & Stephens (2009).

    The GPD is parametrised by theta = -xi / sigma; for each theta of a grid the profile
    log likelihood is n (log(-theta / xi(theta)) - xi(theta) - 1) with
    xi(theta) = mean(log(1 - theta x)); theta is the likelihood-weighted mean over the grid.
    """
    n = x.size
    grid = 30 + int(math.sqrt(n))
    quartile = x[int(n / 4 + 0.5) - 1]
    j = np.arange(1, grid + 1)
    theta = 1.0 / x[-1] + (1.0 - np.sqrt(grid / (j - 0.5))) / (3.0 * quartile)
    xi = np.mean(np.log1p(-theta[:, None] * x[None, :]), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        profile = n * (np.log(-theta / xi) - xi - 1.0)
    profile = np.where(np.isfinite(profile), profile, -np.inf)
    post = np.exp(profile - special.logsumexp(profile))
    theta_hat = float(np.sum(post * theta))
    return float(np.mean(np.log1p(-theta_hat * x)))


def pareto_k(log_weights: np.ndarray) -> float:
    """Pareto k-hat of importance weights (PSIS diagnostic, Vehtari et al. 2024).

    A generalised Pareto distribution is fitted to the excess of the largest
    ``ceil(min(0.2 S, 3 sqrt(S)))`` of the S weights over the next largest; its shape,
    regularised towards 0.5 with the weight of 10 observations as in the PSIS paper, is
    k-hat. Smaller is better; above :func:`pareto_k_threshold` the weights' tail is too
    heavy for reliable estimates. ``-inf`` when the tail is flat (equal largest weights),
    ``inf`` when fewer than 5 of the largest weights are distinguishable from the largest
    (a few draws carry all the weight).
    """
    logw = np.asarray(log_weights, float)
    logw = logw[np.isfinite(logw)]
    s = logw.size
    tail = math.ceil(min(0.2 * s, 3.0 * math.sqrt(s)))
    if tail < 5 or s <= tail:
        return math.nan
    w = np.exp(np.sort(logw) - logw.max())
    excess = w[-tail:] - w[-tail - 1]
    if excess[-1] <= 0:
        return -math.inf
    excess = excess[excess > 0]
    if excess.size < 5:
        return math.inf
    xi = _gpd_shape(excess)
    return (excess.size * xi + 10 * 0.5) / (excess.size + 10)


@dataclass(frozen=True)
class FitDiagnostics:
    """Whether an individual fit holds: the search for the mode and the posterior sample.

    Attributes
    ----------
    optimizer_success : bool
        L-BFGS-B's own verdict (it often stops on the noise of a finite-difference
        gradient at the mode, so the Newton decrement, not this, decides).
    optimizer_message : str
    iterations : int
        L-BFGS-B iterations of the search that found the mode.
    gradient_norm : float
        Norm of the (projected) gradient of the negative log posterior at the mode, in
        whitened units (prior SDs).
    newton_decrement : float
        sqrt(g' H^-1 g): distance from the reported mode to the mode of the local
        quadratic model, in posterior SDs; NaN when H is not positive definite.
    hessian_min_eigenvalue : float
        Smallest eigenvalue of the finite-difference Hessian at the mode (whitened; the
        prior alone contributes 1); positive definite when > 0.
    at_bound : tuple of str
        Random effects at the edge of the search (``Z_BOUND`` prior SDs).
    ess, n_proposals : float, int
        Kish effective sample size of the importance weights, of ``n_proposals`` draws.
    max_weight_share : float
        The largest normalised importance weight (the share of the posterior carried by
        one draw).
    pareto_k : float
        PSIS k-hat of the importance weights (:func:`pareto_k`).
    map_outside : tuple of str
        Random effects whose MAP lies outside their own posterior 90 % interval.
    """

    optimizer_success: bool
    optimizer_message: str
    iterations: int
    gradient_norm: float
    newton_decrement: float
    hessian_min_eigenvalue: float
    at_bound: tuple[str, ...]
    ess: float
    n_proposals: int
    max_weight_share: float
    pareto_k: float
    map_outside: tuple[str, ...]

    @property
    def ess_fraction(self) -> float:
        """Effective sample size as a fraction of the proposals."""
        return self.ess / self.n_proposals

    def _checks(self) -> list[tuple[str, object, str, bool, str]]:
        """(check, value, limit, holds, what is wrong when it does not hold) per check."""
        min_ess = threshold("individual", "min_ess").value
        max_dec = threshold("individual", "max_newton_decrement").value
        max_k = pareto_k_threshold(self.n_proposals)
        pd_ok = self.hessian_min_eigenvalue > 0
        return [
            ("optimizer", self.optimizer_message, f"{self.iterations} iterations", True, ""),
            ("gradient norm at the mode", self.gradient_norm, "", True, ""),
            ("Hessian smallest eigenvalue", self.hessian_min_eigenvalue, "> 0", pd_ok,
             f"the curvature at the mode is not positive definite (smallest eigenvalue "
             f"{self.hessian_min_eigenvalue:.3g}), so it is not a mode"),
            # Without a positive-definite Hessian the decrement is undefined; the line
            # above says why.
            ("Newton decrement (posterior SD)", self.newton_decrement, f"<= {max_dec:g}",
             not pd_ok or self.newton_decrement <= max_dec,
             f"the search stopped {self.newton_decrement:.2g} posterior SD from the mode "
             f"(more than {max_dec:g}; L-BFGS-B: {self.optimizer_message})"),
            ("at the edge of the search", ", ".join(self.at_bound) or "none", "none",
             not self.at_bound, f"{', '.join(self.at_bound)} at the edge of the search, "
             "implausibly far from the typical value"),
            ("effective sample size", self.ess, f">= {min_ess:g}", self.ess >= min_ess,
             f"effective sample size {self.ess:.0f} (below {min_ess:g}; one draw carries "
             f"{100 * self.max_weight_share:.0f} % of the weight)"),
            ("ESS fraction", self.ess_fraction, "", True, ""),
            ("largest weight share", self.max_weight_share, "", True, ""),
            ("Pareto k", self.pareto_k, f"<= {max_k:.2f}", not self.pareto_k > max_k,
             f"Pareto k {self.pareto_k:.2f} (above {max_k:.2f}: the importance weights are "
             "dominated by a few draws)"),
            ("MAP outside its 90 % interval", ", ".join(self.map_outside) or "none", "none",
             not self.map_outside, f"the MAP of {', '.join(self.map_outside)} lies outside "
             "its own 90 % interval"),
        ]

    @property
    def problems(self) -> tuple[str, ...]:
        """What does not hold, one phrase each (empty when the fit holds)."""
        return tuple(why for *_, ok, why in self._checks() if not ok)

    @property
    def holds(self) -> bool:
        """True when every check passes."""
        return not self.problems

    def text(self) -> str:
        """Two lines, the mode and the posterior sample, with the values and limits."""
        max_dec = threshold("individual", "max_newton_decrement").value
        min_ess = threshold("individual", "min_ess").value
        k = f"{self.pareto_k:.2f}" if math.isfinite(self.pareto_k) else f"{self.pareto_k}"
        dec = (f"{self.newton_decrement:.2g} posterior SD"
               if math.isfinite(self.newton_decrement) else "n/a")
        hess = "positive definite" if self.hessian_min_eigenvalue > 0 else "NOT positive definite"
        outside = ("inside every 90 % interval" if not self.map_outside
                   else f"outside the 90 % interval of {', '.join(self.map_outside)}")
        return (f"mode: L-BFGS-B {'converged' if self.optimizer_success else 'stopped'} "
                f"after {self.iterations} iterations, gradient norm {self.gradient_norm:.2g}, "
                f"Newton decrement {dec} (<= {max_dec:g}); Hessian {hess} (smallest "
                f"eigenvalue {self.hessian_min_eigenvalue:.3g})\n"
                f"sample: effective sample size {self.ess:.0f} of {self.n_proposals} "
                f"({100 * self.ess_fraction:.0f} %; >= {min_ess:g}), largest weight "
                f"{100 * self.max_weight_share:.1f} %, Pareto k {k} "
                f"(<= {pareto_k_threshold(self.n_proposals):.2f}); MAP {outside}")

    def to_frame(self) -> pd.DataFrame:
        """One row per check: check, value, limit, holds."""
        return pd.DataFrame([row[:4] for row in self._checks()],
                            columns=["check", "value", "limit", "holds"])


def outside_interval(mode: np.ndarray, samples: np.ndarray, names: Sequence[str],
                     band: tuple[float, float] = (5.0, 95.0)) -> tuple[str, ...]:
    """Names whose ``mode`` lies outside the central band of ``samples`` (columns)."""
    lo, hi = np.percentile(samples, band, axis=0)
    return tuple(n for n, m, a, b in zip(names, mode, lo, hi, strict=True)
                 if not a <= m <= b)
