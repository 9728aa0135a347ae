"""Engine benchmark: 10,000 subjects x 2,185 hourly points, 2-compartment oral model.

ka 0.5/h, CL 10 L/h, V1 100 L, Q 20 L/h, V2 500 L; 0.5 mg every 24 h x 84 doses.
Reference to beat: mrgsolve's closed-form solver, about 10 s on this machine.

Run on demand:  python benchmarks/bench_engine.py [--subjects N] [--repeat R]
Prints wall-clock seconds and concentration points per second; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pkdose import solver
from pkdose.regimen import DoseTrain


def run(n_subjects: int, times: np.ndarray, n_doses: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    # Mild between-subject spread so every subject has its own parameters.
    eta = rng.normal(0.0, 0.1, size=(n_subjects, 5))
    p = {
        "ka": 0.5 * np.exp(eta[:, 0]),
        "cl": 10.0 * np.exp(eta[:, 1]),
        "v1": 100.0 * np.exp(eta[:, 2]),
        "q": 20.0 * np.exp(eta[:, 3]),
        "v2": 500.0 * np.exp(eta[:, 4]),
    }
    sys = solver.build_system(p, n_chain=1)
    train = DoseTrain(0.0, 24.0, n_doses, 0.5)
    amount = np.full(n_subjects, 0.5)
    central = solver.train_central(sys, train, amount, np.ones(n_subjects),
                                   np.zeros(n_subjects), times)
    central *= 1000.0 / p["v1"][:, None]  # mg in V1 litres -> ng/mL, in place
    return central


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    times = np.arange(2185, dtype=float)
    best = np.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        conc = run(args.subjects, times, 84)
        best = min(best, time.perf_counter() - t0)
    points = conc.size
    print(f"subjects x times: {args.subjects} x {times.size} = {points:,} points")
    print(f"best of {args.repeat}: {best:.3f} s  ({points / best:,.0f} points/s)")
    # Dose-count independence: same grid, 1 dose vs 10,000 doses.
    for n_doses in (1, 84, 10_000):
        t0 = time.perf_counter()
        run(1000, times, n_doses)
        print(f"1000 subjects, {n_doses:>6} doses: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
