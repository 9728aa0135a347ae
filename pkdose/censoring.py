"""Levels below the lower limit of quantification (LLOQ): their likelihood and their count.

A level reported as ``<0.5`` says only that the concentration measured was below 0.5
ng/mL. Leaving it out biases a fit toward slow elimination; setting it to the limit (or
half of it) invents a value. The M3 method (Beal 2001, J Pharmacokinet Pharmacodyn
28:481-504, doi:10.1023/A:1012299115260) uses the probability that a measurement falls
below the limit given the prediction ``f`` and the residual SD ``s``:

    quantified level y:   -log p = 1/2 (y - f)^2 / s^2 + 1/2 log s^2      (+ const)
    censored below L:     -log p = -log Phi((L - f) / s)

with ``Phi`` the standard normal distribution function. Simulated observations below the
limit are reported as BLQ, never as the negative values an additive residual error can
produce (:func:`below_limit`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

__all__ = ["below_limit", "negative_log_likelihood"]


def negative_log_likelihood(y: np.ndarray, f: np.ndarray, var: np.ndarray,
                            censored: np.ndarray | None = None) -> np.ndarray:
    """Sum over levels of -log p, per row of ``f`` (M3 for censored levels).

    Parameters
    ----------
    y : array (L,)
        Quantified levels; for a censored level, its limit of quantification.
    f, var : arrays (R, L)
        Predicted concentrations and residual variances (rows: parameter sets).
    censored : bool array (L,), optional
        Levels reported below their limit (``y`` is then the limit).

    Returns
    -------
    array (R,)
        The constant 1/2 log(2 pi) of each quantified level is left out.
    """
    if censored is None or not np.any(censored):
        return 0.5 * np.sum((y - f) ** 2 / var + np.log(var), axis=1)
    q = ~censored
    quantified = 0.5 * np.sum((y[q] - f[:, q]) ** 2 / var[:, q] + np.log(var[:, q]), axis=1)
    below = -np.sum(log_ndtr((y[censored] - f[:, censored]) / np.sqrt(var[:, censored])),
                    axis=1)
    return quantified + below


def below_limit(obs_ng_ml: np.ndarray, lloq_ng_ml: float = 0.0) -> np.ndarray:
    """Which simulated observations a laboratory would report as BLQ.

    A value at or below 0 is below any limit; with ``lloq_ng_ml`` > 0, every value below
    it too.
    """
    obs = np.asarray(obs_ng_ml, float)
    return (obs <= 0.0) | (obs < lloq_ng_ml)
