"""Time the step solver of co-medications that start and stop (``pkdose.timevarying``).

Prints seconds per call for: the plain regimen, the same with ketoconazole days 8-14, and
with a one-off hold, for 1 and 1,000 subjects, over 8 weeks and over 2 years of daily doses
(the cost of a step must not grow with the doses in it). Run:
``python benchmarks/bench_timing.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from pkdose.regimen import compile_trains
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import concentrations, get_model, prepare


def _time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    rng = np.random.default_rng(1)
    for model, drug in (("golubovic2019", "sirolimus"), ("wu2012", "sirolimus"),
                        ("terheine2018", "everolimus")):
        m = get_model(model, drug=drug)
        for n in (1, 1000):
            cov = pd.DataFrame({"weight_kg": rng.uniform(50, 100, n)}) if n > 1 else None
            for days in (56, 730):
                t = np.arange(0.0, days * 24.0, 1.0)
                cases = {
                    "plain": (f"{drug} 2 mg daily", ()),
                    "ketoconazole day 8-14": (f"{drug} 2 mg daily", ("ketoconazole day 8-14",)),
                    "hold days 10-14": (f"{drug} 2 mg daily, hold days 10-14", ()),
                }
                for label, (text, with_) in cases.items():
                    prep = prepare(m, cov, with_=with_)
                    trains = compile_trains(parse_regimen(text))
                    def run(prep=prep, trains=trains, t=t):
                        return concentrations(prep, trains, t)

                    sec = _time(run, repeat=1 if n > 1 else 3)
                    print(f"{model:14s} n={n:5d} {days:4d} days  {label:22s} {sec:8.3f} s")


if __name__ == "__main__":
    main()
