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

from pkdose.errors import PkdoseError

__all__ = ["below_limit", "censored_percentiles", "negative_log_likelihood"]


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
    if not (np.isfinite(lloq_ng_ml) and lloq_ng_ml >= 0):
        raise PkdoseError(f"the limit of quantification must be a number >= 0 ng/mL, got "
                          f"{lloq_ng_ml!r}", option="lloq_ng_ml")
    obs = np.asarray(obs_ng_ml, float)
    return (obs <= 0.0) | (obs < lloq_ng_ml)


def censored_percentiles(obs_ng_ml: np.ndarray, blq: np.ndarray, percentiles) -> np.ndarray:
    """Percentiles (linear, as ``numpy.percentile``) of observations some of which are BLQ.

    A BLQ observation ranks below every quantified one, so a percentile whose rank lies
    on or next to a BLQ rank is itself below the limit: NaN. The others are those of the
    full sample.
    """
    blq = np.asarray(blq, bool)
    values = np.sort(np.asarray(obs_ng_ml, float)[~blq])
    n, n_blq = blq.size, int(blq.sum())
    out = np.full(len(percentiles), np.nan)
    for i, p in enumerate(percentiles):
        rank = (n - 1) * p / 100.0
        if np.floor(rank) >= n_blq:  # both ranks interpolated between are quantified
            out[i] = np.percentile(values, 100.0 * (rank - n_blq) / max(values.size - 1, 1))
    return out
