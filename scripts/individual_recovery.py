"""Does MAP-Bayesian estimation recover the parameters it should? Simulation study.

Subjects are drawn from each model's prior (IIV, one occasion of IOV) with the model's own
residual error, sampled sparsely (3 levels: 2, 24 and 168 h after the third weekly dose)
or richly (9 levels over the same interval), and estimated with pkdose.individual. When
the model is right, the posterior is calibrated: averaged over subjects drawn from the
prior, a 90 % credible interval contains the truth 90 % of the time, and the error of the
posterior mean averages 0. Printed per model and design:

* eta: mean error of the posterior mean (bias, log scale) and its z-score (bias over
  RMSE / sqrt(n), its standard error when the posterior is calibrated), RMSE, coverage of
  the 90 % interval, the information gained (1 - posterior SD / prior SD) and the mean of
  the true etas drawn (when the levels carry little information the posterior mean stays
  near 0, so an unusual draw of truths shows up as bias);
* AUC168 at steady state (a new occasion): median error of the MAP forecast (%), and
  coverage of the posterior 90 % band of the true AUC168;
* the concentration at 72 h after the third dose (not sampled in the sparse design):
  coverage of the 90 % band of the fitted curve.

    python scripts/individual_recovery.py --n 200          # ~ minutes; progress on stderr
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy import stats

from pkdose import individual as ind
from pkdose.exposure import interval_metrics
from pkdose.model import covariate_table, get_model
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import concentrations, prepare, steady_state_concentrations, time_grid

DOSE3_H = 336.0
DESIGNS = {
    "sparse (3 levels)": (2.0, 24.0, 168.0),
    "rich (9 levels)": (0.5, 1.0, 2.0, 4.0, 8.0, 24.0, 48.0, 96.0, 168.0),
}
CHECK_H = DOSE3_H + 72.0
REGIMENS = {"sirolimus": "sirolimus 6 mg weekly", "everolimus": "everolimus 5 mg weekly"}


def true_auc168(model, reg, eta, k1, rng) -> np.ndarray:
    """Steady-state AUC168 of the true subjects on a new occasion."""
    occ = rng.standard_normal((len(eta), eta.shape[1] - k1)) @ ind._prior_root(model)[0][
        k1:, k1:].T
    prep = prepare(model, covariate_table({}, n=len(eta)), eta[:, :k1], occ)
    t = time_grid(168.0, ind.TARGET_STEP_H)
    conc = steady_state_concentrations(prep, reg, t)["conc_ng_ml"]
    return interval_metrics(t, conc, above=(), below=(), periodic=True)["auc168_ng_h_ml"]


def run(model_name: str, n: int, seed: int, n_proposals: int, n_samples: int,
        designs: tuple[str, ...] = ()) -> list[str]:
    model = get_model(model_name)
    reg = parse_regimen(REGIMENS[model.drug])
    root, names, k1 = ind._prior_root(model)
    out = []
    for d_i, (design, post_h) in enumerate(DESIGNS.items()):
        if designs and design.split()[0] not in designs:
            continue
        times = DOSE3_H + np.array(post_h)
        levels, eta = ind.simulate_levels(reg, times, n, model, seed=seed + 1000 * d_i)
        rng = np.random.default_rng(seed + 7)
        auc_true = true_auc168(model, reg, eta, k1, rng)
        truth_prep = prepare(model, covariate_table({}, n=n), eta[:, :k1], eta[:, k1:])
        c_true = concentrations(truth_prep, reg.trains(), np.array([CHECK_H]))["conc_ng_ml"][:, 0]
        err, cover, info = [], [], []
        auc_err, auc_cov, c_cov, width = [], [], [], []
        t0 = time.time()
        for i, lev in enumerate(levels):
            fit = ind.estimate(reg, lev, model, n_proposals=n_proposals,
                               n_samples=n_samples, seed=seed + i)
            s = fit.samples
            q = np.percentile(s, (5, 95), axis=0)
            err.append(s.mean(0) - eta[i])
            cover.append((q[0] <= eta[i]) & (eta[i] <= q[1]))
            info.append(1 - s.std(0) / np.sqrt(np.diag(root @ root.T)))
            auc = ind.exposure(fit, reg).set_index("metric").loc["auc168_ng_h_ml"]
            point, lo, hi = auc["individual"], auc["p5"], auc["p95"]
            auc_err.append(100 * (point / auc_true[i] - 1))
            auc_cov.append(lo <= auc_true[i] <= hi)
            cs = fit.post.predict(fit.samples_z, np.array([CHECK_H]))[:, 0]
            clo, chi = np.percentile(cs, (5, 95))
            c_cov.append(clo <= c_true[i] <= chi)
            width.append(np.log(chi / clo))
            if (i + 1) % 25 == 0:
                print(f"[{model_name} {design}] {i + 1}/{n} subjects "
                      f"({time.time() - t0:.0f} s)", file=sys.stderr)
        err, cover, info = np.array(err), np.array(cover), np.array(info)
        out.append(f"{model_name}, {REGIMENS[model.drug]}, {design} at "
                   f"{', '.join(f'{h:g}' for h in post_h)} h after dose 3; {n} subjects, "
                   f"seed {seed}")
        out.append(f"  {'eta':<18}{'bias':>8}{'z':>7}{'RMSE':>8}{'cover90':>9}{'info':>7}"
                   f"{'truth mean':>12}")
        for j, name in enumerate(names):
            rmse = np.sqrt((err[:, j] ** 2).mean())
            # Calibrated, the mean squared error is the mean posterior variance, so
            # RMSE / sqrt(n) is the standard error of the bias.
            z = err[:, j].mean() / (rmse / np.sqrt(n))
            out.append(f"  {name:<18}{err[:, j].mean():>+8.3f}{z:>+7.1f}{rmse:>8.3f}"
                       f"{100 * cover[:, j].mean():>8.1f}%{100 * info[:, j].mean():>6.0f}%"
                       f"{eta[:, j].mean():>+12.3f}")
        out.append(f"  AUC168 forecast: median error {np.median(auc_err):+.1f} %, "
                   f"90 % band covers the truth in {100 * np.mean(auc_cov):.1f} %")
        out.append(f"  concentration 72 h after dose 3: 90 % band covers the truth in "
                   f"{100 * np.mean(c_cov):.1f} %, mean band width x{np.exp(np.mean(width)):.2f}")
        out.append("")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", default="wu2012,terheine2018")
    ap.add_argument("--proposals", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--designs", default="sparse,rich")
    a = ap.parse_args()
    lo, hi = (int(x) for x in stats.binom.ppf([0.025, 0.975], a.n, 0.9))
    print(f"Expected 90 % coverage with {a.n} subjects: {100 * lo / a.n:.1f}-"
          f"{100 * hi / a.n:.1f} % (central 95 % of Binomial({a.n}, 0.9))\n")
    for name in a.models.split(","):
        print("\n".join(run(name.strip(), a.n, a.seed, a.proposals, a.samples,
                                   tuple(a.designs.split(",")))), flush=True)


if __name__ == "__main__":
    main()
