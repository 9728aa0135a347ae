"""Benchmark: Mo 2025 everolimus (parallel zero-/first-order absorption with lag) populations.

Whole-blood curves on an hourly grid 0..2,184 h for N subjects with the model's IIV (every
subject its own zero-order duration and lag, so the trains are evaluated value by value),
everolimus 5 mg daily, through the public engine (``prepare`` + ``concentrations``), beside
ter Heine 2018 (the default, planned as blocks) on the same subjects' grid; then the
typical subject alone (one duration, one lag) and the 5 mg weekly steady state.

Run on demand:  python benchmarks/bench_mo2025.py [--n 100 1000] [--repeat 3]
Prints wall and process CPU seconds (medians of ``--repeat`` runs) and the load average.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np


def _timed(fn, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    from pkdose.errors import ExtrapolationWarning
    from pkdose.model import covariate_table, get_model
    from pkdose.regimen_text import parse_regimen
    from pkdose.simulation import concentrations, prepare, steady_state_concentrations

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore", ExtrapolationWarning)
    t = np.arange(0.0, 2185.0)
    daily = parse_regimen("everolimus 5 mg daily")
    for name in ("mo2025", "terheine2018"):
        m = get_model(name)
        for n in args.n:
            rng = np.random.default_rng(1)
            eta = rng.multivariate_normal(np.zeros(len(m.iiv.parameters)), m.iiv.matrix, n)
            prep = prepare(m, covariate_table(n=n), eta)
            wall, cpu = _timed(lambda prep=prep: concentrations(prep, daily.trains(), t),
                               args.repeat)
            print(f"{name} 5 mg daily, hourly to 2184 h, N={n} with IIV: {wall:.3f} s "
                  f"(CPU {cpu:.3f} s)")
    typical = prepare(get_model("mo2025"))
    wall, cpu = _timed(lambda: concentrations(typical, daily.trains(), t), args.repeat)
    print(f"mo2025 typical subject, same grid: {wall:.4f} s (CPU {cpu:.4f} s)")
    weekly = parse_regimen("everolimus 5 mg weekly")
    cycle = np.linspace(0.0, 168.0, 1681)
    wall, cpu = _timed(lambda: steady_state_concentrations(typical, weekly, cycle), args.repeat)
    print(f"mo2025 typical subject, 5 mg weekly steady state, 1681 times: {wall:.4f} s "
          f"(CPU {cpu:.4f} s)")
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
