"""Individual-estimation benchmark: seconds per fit, forecast and recommendation.

For each shipped model: one subject drawn from the prior with 3 levels (2, 24 and 168 h
after the third weekly dose), estimated with the default settings (4000 SIR proposals,
1000 draws), then the steady-state forecast (`exposure`) and a trough recommendation.
The cost is dominated by batched solver calls (2k + 1 subjects per gradient, 4000 per SIR
round), so it grows with the number of random effects and, for Wu 2012, with the
Michaelis-Menten quadrature.

Run on demand:  python benchmarks/bench_individual.py [--repeat R]
Prints wall-clock seconds; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pkdose import individual as ind
from pkdose.children import is_paediatric
from pkdose.model import builtin_models

DOSES = {"sirolimus": "sirolimus 6 mg weekly", "everolimus": "everolimus 5 mg weekly"}
#: A paediatric model refuses adults: its subject is a child at the model's weight reference
#: (Fan 2024: 16 kg), aged 6 y, on the same weekly regimen.
CHILD = {"age_y": 6.0, "weight_kg": 16.0, "height_cm": 115.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(f"{'model':<15}{'fit s':>8}{'exposure s':>12}{'recommend s':>13}{'ESS':>7}")
    for name, model in builtin_models().items():
        if model.drug not in DOSES:  # temsirolimus: IV parent-metabolite, no levels model
            continue
        reg = DOSES[model.drug]
        who = CHILD if is_paediatric(model) else None
        times = 336.0 + np.array([2.0, 24.0, 168.0])
        levels, _ = ind.simulate_levels(reg, times, a.repeat, model, subjects=who, seed=1)
        t_fit = t_exp = t_rec = 0.0
        ess = []
        for lev in levels:
            t0 = time.perf_counter()
            fit = ind.estimate(reg, lev, model, who)
            t1 = time.perf_counter()
            ind.exposure(fit)
            t2 = time.perf_counter()
            ind.recommend(fit, "trough 3-8")
            t3 = time.perf_counter()
            t_fit, t_exp, t_rec = t_fit + t1 - t0, t_exp + t2 - t1, t_rec + t3 - t2
            ess.append(fit.ess)
        r = a.repeat
        print(f"{name:<15}{t_fit / r:>8.2f}{t_exp / r:>12.2f}{t_rec / r:>13.2f}"
              f"{np.median(ess):>7.0f}")


if __name__ == "__main__":
    main()
