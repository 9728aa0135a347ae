"""Design benchmark: wall-clock seconds of find-dose, arms and window per model.

Run on demand:  python benchmarks/bench_design.py [--n N] [--window-n M]
Prints seconds, evaluations and simulations; asserts nothing. Older adults, seed 1.
"""

from __future__ import annotations

import argparse
import time
import warnings

from pkdose.design import compare_arms, find_dose, therapeutic_window
from pkdose.errors import ExtrapolationWarning


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=500, help="subjects for find-dose and arms")
    ap.add_argument("--window-n", type=int, default=50, help="subjects for window")
    args = ap.parse_args()
    warnings.simplefilter("ignore", ExtrapolationWarning)
    pop = "older-adults"
    for model in ("golubovic2019", "wu2012"):
        t = time.perf_counter()
        df = find_dose("sirolimus", "weekly", "median Cavg=2", n=args.n, population=pop,
                       model=model)
        print(f"find-dose median Cavg=2 weekly  {model:14s} n={args.n}: "
              f"{time.perf_counter() - t:6.1f} s, {df['evaluations'][0]} evaluations, "
              f"{df['simulations'][0]} simulations, dose {df['dose_mg'][0]:.3f} mg")
        t = time.perf_counter()
        compare_arms(["sirolimus 5 mg weekly", "sirolimus 10 mg weekly"], "AUC168",
                     n=args.n, population=pop, model=model)
        print(f"arms 5 vs 10 mg weekly          {model:14s} n={args.n}: "
              f"{time.perf_counter() - t:6.1f} s")
        t = time.perf_counter()
        w = therapeutic_window("sirolimus", n=args.window_n, population=pop, model=model)
        print(f"window {len(w)} schedules            {model:14s} n={args.window_n}: "
              f"{time.perf_counter() - t:6.1f} s")


if __name__ == "__main__":
    main()
