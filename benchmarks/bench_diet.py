"""Diet benchmark: the cost of a ppm diet does not grow with the number of days fed.

Simulates the shipped mouse model on "rapamycin 14 ppm diet for N days" for N from 30 days
to 3 years (each day = two feeding-phase input trains), evaluated on the same 2,000 output
times spread over the last week of feeding, so only the number of days changes.

Run on demand:  python benchmarks/bench_diet.py [--repeat R]
Prints wall-clock seconds per run; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pkdose.model import get_model
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import concentrations, prepare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    prep = prepare(get_model(drug="sirolimus", species="mouse"))
    for days in (30, 365, 1095):
        reg = parse_regimen(f"rapamycin 14 ppm diet for {days} days")
        t = np.linspace(24.0 * (days - 7), 24.0 * days, 2000)
        best = np.inf
        for _ in range(args.repeat):
            start = time.perf_counter()
            conc = concentrations(prep, reg.trains(), t)["conc_ng_ml"]
            best = min(best, time.perf_counter() - start)
        print(f"{days:5d} days fed: {best * 1000:7.2f} ms for 2000 points "
              f"(last-week mean {conc.mean():.3f} ng/mL)")


if __name__ == "__main__":
    main()
