"""CLI benchmark: wall seconds of pkdose commands as a user runs them, against bare imports.

Run on demand:  python benchmarks/bench_cli.py [--runs N]
Each command is a fresh ``python -m pkdose`` process of this checkout (its folder goes first
on PYTHONPATH), timed N times after one warm-up run; prints the median, the ratio to the
baseline ``python -c "import numpy, scipy, pandas"`` and the target where there is one.
A command that fails prints its exit status and last stderr line instead of a time.
Asserts nothing; on a shared machine the figures move with the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKDOSE = [sys.executable, "-m", "pkdose"]
REGIMENS = ["rapamycin 1 mg daily", "rapamycin 6 mg weekly", "everolimus 5 mg weekly"]
# (label, argv, target ratio to the baseline or None)
CASES = [
    ("import numpy, scipy, pandas (baseline)",
     [sys.executable, "-c", "import numpy, scipy, pandas"], None),
    ("pkdose --version", [*PKDOSE, "--version"], None),
    ("pkdose compare (3 regimens)", [*PKDOSE, "compare", *REGIMENS], 2.0),
    ("pkdose compare (3 regimens) --against transplant,ageing",
     [*PKDOSE, "compare", *REGIMENS, "--against", "transplant,ageing"], 3.0),
]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, exit status and the last line on stderr of one run."""
    t = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    lines = res.stderr.strip().splitlines()
    return time.perf_counter() - t, res.returncode, lines[-1] if lines else ""


def median_seconds(argv: list[str], env: dict[str, str], runs: int) -> float | str:
    """Median over ``runs`` after a warm-up, or what went wrong as text."""
    times = []
    for _ in range(runs + 1):
        seconds, status, last = run_once(argv, env)
        if status:
            return f"exit {status}: {last}"
        times.append(seconds)
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per command")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    print(f"pkdose from {ROOT}; {os.cpu_count()} CPUs; median of {args.runs} runs after one "
          "warm-up, wall seconds")
    width = max(len(label) for label, _, _ in CASES)
    baseline = None
    for k, (label, argv, target) in enumerate(CASES):
        got = median_seconds(argv, env, args.runs)
        if isinstance(got, str):
            print(f"{label:<{width}}  {got}", flush=True)
            continue
        if k == 0:
            baseline = got
        line = f"{label:<{width}}  {got:6.2f} s"
        if baseline is not None:
            ratio = got / baseline
            line += f"  {ratio:5.2f}x baseline"
            if target is not None:
                line += f"  (target <= {target:g}x: {'met' if ratio <= target else 'missed'})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
