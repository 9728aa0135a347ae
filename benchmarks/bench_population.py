"""Population benchmark: 100,000 subjects, steady-state metrics or 1 year of daily dosing.

Three cases, older adults except where said:

- ``metrics``: what ``pkdose population "sirolimus 1 mg daily" --n N`` computes
  (``pkdose.simulate_population``, the typical subject's covariates with the model's
  variability, no fan chart): per subject the steady-state exposure metrics, mTORC1 and
  mTORC2 engagement and the verdicts;
- ``course``, for the default sirolimus model (wu2012, Michaelis-Menten absorption) and
  the default everolimus model (terheine2018, transit absorption, red-cell binding):

    sirolimus 2 mg daily for 365 days      everolimus 5 mg daily for 365 days

  Each subject's whole-blood concentration is computed at every hour of the year (8,761
  points: 365 doses) and summarised by ``pkdose.population.simulate_course``: Cavg (AUC by
  the trapezoidal rule over the year / 8,760 h), Cmax, Tmax, Cmin after the first day, the
  trough at the last dose, AUC and hours above 3, 5 and 15 ng/mL. Only the summaries are
  kept; the hourly curves of a block of 256 subjects are dropped once summarised.

Run on demand:  python benchmarks/bench_population.py [--n 10000 100000] [--workers W]
Each case runs in a fresh process so its peak memory (ru_maxrss of the process and of its
largest worker process) is its own. Prints wall-clock seconds, subjects per second, CPU
seconds (this process and its workers, including start-up and imports), peak memory and
the 1-minute load average before and after the case; asserts nothing. ``--cases
metrics-wu2012`` (or ``course-wu2012``, ``course-terheine2018``) runs only those.
Wall-clock time depends on what else the machine runs: the load average is printed with
it, and CPU seconds / cores bounds the time on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

CASES = (("metrics", "wu2012", "sirolimus 1 mg daily"),
         ("course", "wu2012", "sirolimus 2 mg daily for 365 days"),
         ("course", "terheine2018", "everolimus 5 mg daily for 365 days"))


def one(kind: str, model: str, regimen: str, n: int, workers: int) -> dict:
    """Run one case here and return its figures."""
    from pkdose.errors import ExtrapolationWarning
    from pkdose.population import simulate_course, simulate_population

    warnings.simplefilter("ignore", ExtrapolationWarning)  # older adults vs source ranges
    start = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = start.ru_utime + start.ru_stime
    t0 = time.perf_counter()
    if kind == "course":
        df = simulate_course(regimen, n, "older-adults", seed=1, model=model, workers=workers)
        cavg, trough = df["cavg_ng_ml"], df["ctrough_last_ng_ml"]
    else:
        df, _ = simulate_population(regimen, n, None, seed=1, model=model, workers=workers,
                                    fan=False)
        cavg, trough = df["cavg_ng_ml"], df["ctrough_ng_ml"]
    secs = time.perf_counter() - t0
    mb = 1024.0  # ru_maxrss is in kB on Linux
    me, kids = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                    resource.RUSAGE_CHILDREN))
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime - cpu0
    return {"kind": kind, "model": model, "regimen": regimen, "n": n, "workers": workers,
            "seconds": secs, "subjects_per_s": n / secs, "cpu_seconds": cpu,
            "peak_mb_main": me.ru_maxrss / mb, "peak_mb_worker": kids.ru_maxrss / mb,
            "median_cavg_ng_ml": float(cavg.median()),
            "median_ctrough_ng_ml": float(trough.median())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cases", nargs="+", choices=[c[0] + "-" + c[1] for c in CASES],
                    default=[c[0] + "-" + c[1] for c in CASES],
                    help="which cases to run (default all)")
    ap.add_argument("--one", nargs=3, metavar=("KIND", "MODEL", "REGIMEN"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.n[0], args.workers)))
        return
    print(f"{os.cpu_count()} CPUs, {args.workers} workers; load average at start "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'case':<8} {'model':<13} {'subjects':>9} {'seconds':>8} {'subjects/s':>11} "
          f"{'CPU s':>7} {'peak MB main':>12} {'peak MB worker':>14} {'median Cavg':>11} "
          f"{'load before/after':>17}")
    for kind, model, regimen in CASES:
        if f"{kind}-{model}" not in args.cases:
            continue
        for n in args.n:
            load0 = os.getloadavg()[0]
            out = subprocess.run([sys.executable, __file__, "--one", kind, model, regimen,
                                  "--n", str(n), "--workers", str(args.workers)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{kind:<8} {model:<13} {n:>9,} {r['seconds']:>8.1f} "
                  f"{r['subjects_per_s']:>11,.0f} {r['cpu_seconds']:>7.1f} "
                  f"{r['peak_mb_main']:>12.0f} {r['peak_mb_worker']:>14.0f} "
                  f"{r['median_cavg_ng_ml']:>11.2f} {load0:>8.1f}/{os.getloadavg()[0]:<8.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
