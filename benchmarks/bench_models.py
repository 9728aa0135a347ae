"""Model benchmark: whole-blood curves for populations, beside mrgsolve on the same machine.

Four workloads of issue 15, each on an hourly grid 0..2,184 h (2,185 points per subject),
through the public population-curves API (``pkdose.simulate_curves``, what
``pkdose.simulate(..., n=N, seed=15, output="array")`` calls: the typical subject's
covariates, random effects drawn from the model's omega, the exact solution and the
conversion to ng/mL, returned as an N x 2,185 array):

- linear: a 2-compartment oral model (ka 0.5/h, CL 10 L/h, V1 100 L, Q 20 L/h, V2 500 L),
  0.5 mg every 24 h x 84, 30 % CV (log-normal) on CL, V1 and ka;
- wu2012 weekly / daily: the default sirolimus model (Michaelis-Menten absorption),
  6 mg every 168 h x 12 and 1 mg every 24 h x 84, the model's IIV on CL, V1, Q, V2;
- terheine2018: the default everolimus model (transit absorption, red-cell binding),
  10 mg every 24 h x 84, the model's IIV on CLint, V1 and one occasion of IOV on MAT.

Run on demand:  python benchmarks/bench_models.py [--n 1000 10000] [--repeat 3]
Each (workload, N) runs in a fresh process, so its peak memory (ru_maxrss, whole process,
imports included) is its own. Prints one line each: ``<workload> N=<n>: <seconds> s``
(median of ``--repeat`` runs after one untimed warm-up call), the peak memory, the
mrgsolve seconds recorded in issue 15 on this machine (N = 10,000 only) and the ratio,
the process CPU seconds (median; less
sensitive than wall time to other jobs on a shared machine) and the load average; then
the ratio of each Wu 2012 workload to the linear one (issue 15: within 3x). Then: the
linear model and Wu 2012 at 1, 84 and 3,000 doses of 0.5 mg daily (cost independent of
the dose count), the linear workload's solve alone into a new result and into the
arrays of an earlier call (``out=``), the Wu 2012 daily workload in one call against ten
calls of 1,000 subjects, and the long DataFrame (``curves_frame``) of 10,000 curves.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

#: mrgsolve 2.0.2 seconds at N = 10,000 on this 2-core machine (issue 15: medians of 3
#: alternated rounds; $PKMODEL for the linear model, the ODE at rtol 1e-8 for the others).
MRGSOLVE_S = {"linear": 13.3, "wu2012-weekly": 14.4, "wu2012-daily": 31.9,
              "terheine2018": 136.0}

WORKLOADS = ("linear", "wu2012-weekly", "wu2012-daily", "terheine2018")

LINEAR_MODEL = {
    "model": {"name": "bench-linear", "drug": "sirolimus"},
    "structure": {"absorption": "first_order", "disposition": 2},
    "parameters": {k: {"value": v, "unit": u} for k, v, u in (
        ("ka", 0.5, "1/h"), ("cl", 10.0, "L/h"), ("v1", 100.0, "L"), ("q", 20.0, "L/h"),
        ("v2", 500.0, "L"))},
    # 30 % CV, log-normal: omega^2 = ln(1 + 0.3^2).
    "iiv": {"parameters": ["cl", "v1", "ka"],
            "omega": [[0.0861777, 0.0, 0.0], [0.0, 0.0861777, 0.0], [0.0, 0.0, 0.0861777]]},
}


REGIMENS = {"linear": "sirolimus 0.5 mg q24h x 84", "wu2012-weekly": "sirolimus 6 mg q168h x 12",
            "wu2012-daily": "sirolimus 1 mg q24h x 84",
            "terheine2018": "everolimus 10 mg q24h x 84"}


def setup(name: str):
    """Regimen and model of one workload."""
    import warnings

    from pkdose.errors import ExtrapolationWarning
    from pkdose.model import get_model, model_from_dict

    warnings.simplefilter("ignore", ExtrapolationWarning)  # 0.5 mg: below the fitted doses
    model = model_from_dict(LINEAR_MODEL) if name == "linear" else get_model(
        name.split("-")[0])
    return REGIMENS[name], model


def run_once(regimen, model, n: int, times, **kw):
    """N curves through the public API."""
    from pkdose.population import simulate_curves

    return simulate_curves(regimen, n, seed=15, model=model, times_h=times, **kw)


def one(name: str, n: int, repeat: int) -> dict:
    """Time one workload in this process."""
    import numpy as np

    times = np.arange(2185, dtype=float)
    regimen, model = setup(name)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # One untimed call first, as in extras(): a fresh process pays once for lazy imports,
    # the model's first parse and the heap's first growth (0.8-1.2 s at N = 10,000), none
    # of which a simulation costs; mrgsolve's recorded times likewise leave out compiling.
    run_once(regimen, model, n, times)
    secs, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        conc = run_once(regimen, model, n, times)
        secs.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        del conc
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": float(np.median(secs)), "cpu": float(np.median(cpus)),
            "peak_mb": peak / 1024.0, "before_mb": rss0 / 1024.0}


def extras(repeat: int) -> None:
    """Dose-count independence, one call against blocks, and the long DataFrame."""
    import numpy as np

    from pkdose.simulation import curves_frame

    times = np.arange(2185, dtype=float)

    def median(fn) -> float:
        fn()  # warm-up: the first call of a process pays for imports and first allocations
        out = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return float(np.median(out))

    for name in ("linear", "wu2012-daily"):
        _, model = setup(name)
        for n_doses in (1, 84, 3000):
            reg = f"sirolimus 0.5 mg q24h x {n_doses}"
            secs = median(lambda reg=reg, model=model: run_once(reg, model, 1000, times))
            print(f"{name.split('-')[0]} N=1000 doses={n_doses}: {secs:.3f} s", flush=True)
    _, model = setup("linear")
    # The solve alone (subjects drawn once), into a fresh result and into the arrays of
    # an earlier call: the difference is the operating system handing out fresh pages.
    from pkdose.model import covariate_table
    from pkdose.population import draw_etas
    from pkdose.regimen import compile_trains
    from pkdose.regimen_text import parse_regimen
    from pkdose.simulation import concentrations, prepare

    prep = prepare(model, covariate_table({}, n=10_000), *draw_etas(model, 10_000, 15))
    trains = compile_trains(parse_regimen(REGIMENS["linear"]))
    fresh = median(lambda: concentrations(prep, trains, times))
    buf = concentrations(prep, trains, times)
    reused = median(lambda: concentrations(prep, trains, times, out=buf))
    print(f"linear N=10000 solve only: {fresh:.3f} s into a new result, {reused:.3f} s into "
          "the arrays of an earlier call (out=)", flush=True)
    regimen, model = setup("wu2012-daily")
    one_call = median(lambda: run_once(regimen, model, 10_000, times))
    blocks = median(lambda: [run_once(regimen, model, 1000, times) for _ in range(10)])
    print(f"wu2012-daily N=10000 one call: {one_call:.3f} s; ten calls of 1000: {blocks:.3f} s",
          flush=True)
    conc = {"conc_ng_ml": run_once(regimen, model, 10_000, times)}
    secs = median(lambda: curves_frame(times, conc))
    print(f"curves_frame N=10000 ({10_000 * times.size:,} rows): {secs:.3f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1_000, 10_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    ap.add_argument("--no-extras", action="store_true",
                    help="skip the dose-count, one-call-vs-blocks and DataFrame lines")
    ap.add_argument("--one", nargs=2, metavar=("WORKLOAD", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.repeat)))
        return
    print(f"{os.cpu_count()} CPUs; hourly grid 0..2184 h; median of {args.repeat}; "
          f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    seconds = {}
    for name in args.workloads:
        for n in args.n:
            out = subprocess.run([sys.executable, __file__, "--one", name, str(n),
                                  "--repeat", str(args.repeat)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            seconds[name, n] = r
            line = (f"{name} N={n}: {r['seconds']:.3f} s  (CPU {r['cpu']:.3f} s; peak "
                    f"{r['peak_mb']:.0f} MB, {r['before_mb']:.0f} MB before the runs")
            if n == 10_000 and name in MRGSOLVE_S:
                line += f"; mrgsolve {MRGSOLVE_S[name]:g} s, {MRGSOLVE_S[name] / r['seconds']:.0f}x"
            print(line + f"; load {os.getloadavg()[0]:.2f})", flush=True)
    for n in args.n:
        # Issue 15 asks the Michaelis-Menten path to stay within 3x of the linear engine.
        for name in ("wu2012-weekly", "wu2012-daily"):
            if (name, n) in seconds and ("linear", n) in seconds:
                mm, lin = seconds[name, n], seconds["linear", n]
                print(f"{name} / linear N={n}: {mm['seconds'] / lin['seconds']:.2f}x "
                      f"(CPU {mm['cpu'] / lin['cpu']:.2f}x)", flush=True)
    if not args.no_extras:
        extras(args.repeat)
        print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
