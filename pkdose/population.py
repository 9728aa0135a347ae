"""Virtual populations: the spread of exposure and mTOR engagement, not the typical subject.

>>> from pkdose.population import simulate_population, summarise      # doctest: +SKIP
>>> metrics, fan = simulate_population("sirolimus 5 mg weekly", 500,
...                                    population="older-adults", model="golubovic2019")
>>> summarise(metrics, targets=["trough<3"])                           # doctest: +SKIP

What is sampled (``docs/population.md``):

* covariates from a population description kept as data (``pkdose/data/populations.toml``:
  truncated normals per covariate, sex-specific where cited, sex by Bernoulli; covariates
  independent given sex) or from a user CSV, one row per subject;
* between-subject random effects from the model's full IIV omega matrix, and
  between-occasion effects: one occasion held for the whole simulation in the metrics, fan
  and course summaries; one occasion per dose in simulated observations
  (:func:`simulate_observations`, exact superposition of doses);
* residual error (the model's ``[residual]`` table) in simulated observations only: the
  metrics are those of the predicted (true) concentration.

Reproducibility: subject ``i`` draws its random numbers from block ``i // BLOCK`` of
independent streams ``SeedSequence(seed, spawn_key=(purpose, block[, index]))`` (purpose 0
covariates, 1 IIV, 2 IOV, 3 per-dose occasions, 4 residual error), in a fixed order inside
the block, and each block of subjects is simulated as one array. A unit of work (in this
process, a local worker process or a Dask worker) handles whole blocks and regenerates
exactly their draws, so results are bitwise identical whatever the chunking, the number
of workers or the scheduler. Every arm of a run uses the same subjects (common random
numbers): arms differ only in the regimen.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from pkdose.censoring import below_limit
from pkdose.data import load_toml
from pkdose.drugs import resolve_drug
from pkdose.errors import PkdoseError
from pkdose.files import read_csv
from pkdose.limits import MAX_SUBJECTS, MAX_TIME_H, exceeded, format_value, whole_number
from pkdose.model import (
    COVARIATES,
    Model,
    Variability,
    covariate_table,
    default_subject,
    matrix_root,
)
from pkdose.regimen import (
    HOURS_PER_WEEK,
    Regimen,
    block_starts,
    compile_trains,
    single_doses,
)
from pkdose.targets import LABELS, Target, parse_target

#: Subjects per block: the unit of random numbers and of simulation (fixed: changing it
#: changes every draw).
BLOCK = 256
PERCENTILES = (5, 25, 50, 75, 95)
#: Fan chart: the first 4 weeks on an hourly grid.
FAN_HOURS = 4 * HOURS_PER_WEEK
FAN_STEP_H = 1.0
_PURPOSE = {"covariates": 0, "iiv": 1, "iov": 2, "occasions": 3, "residual": 4}
_CONTINUOUS = ("age_y", "weight_kg", "height_cm", "hct_pct")


# --- populations as data -------------------------------------------------------------------


@dataclass(frozen=True)
class CovariateDist:
    """A truncated normal, optionally with sex-specific mean and SD."""

    name: str
    low: float
    high: float
    mean: Mapping[str, float]
    sd: Mapping[str, float]
    source: str = ""

    def sample(self, u: np.ndarray, female: np.ndarray) -> np.ndarray:
        """Inverse-CDF draw from uniforms ``u`` (one per subject)."""
        mu = np.where(female, self.mean["female"], self.mean["male"])
        sd = np.where(female, self.sd["female"], self.sd["male"])
        lo = special.ndtr((self.low - mu) / sd)
        hi = special.ndtr((self.high - mu) / sd)
        x = mu + sd * special.ndtri(lo + u * (hi - lo))
        return np.clip(x, self.low, self.high)


@dataclass(frozen=True)
class Population:
    """Where covariates come from: a cited description, or a table of real subjects."""

    name: str
    description: str = ""
    female_fraction: float = 0.5
    covariates: tuple[CovariateDist, ...] = ()
    fixed: Mapping[str, object] = field(default_factory=dict)
    table: pd.DataFrame | None = None

    def draw(self, start: int, stop: int, seed: int) -> pd.DataFrame:
        """Raw covariates of subjects ``start..stop-1`` (complete them with covariate_table)."""
        if self.table is not None:
            rows = np.arange(start, stop) % len(self.table)
            return self.table.iloc[rows].reset_index(drop=True)
        # Uniforms: column 0 sex, then one per covariate in file order.
        u = _block_draws(seed, "covariates", start, stop, 1 + len(self.covariates),
                         normal=False)
        female = u[:, 0] < self.female_fraction
        out: dict[str, object] = {"sex": np.where(female, "female", "male")}
        for j, dist in enumerate(self.covariates, start=1):
            out[dist.name] = dist.sample(u[:, j], female)
        return pd.DataFrame({**out, **self.fixed})


def _dist(name: str, raw: Mapping, where: str) -> CovariateDist:
    if raw.get("dist", "truncnorm") != "truncnorm":
        raise PkdoseError(f"{where}: only dist = \"truncnorm\" is supported")
    shared = "mean" in raw  # one mean and SD for both sexes, else male_mean, female_sd ...
    try:
        mean, sd = ({s: float(raw[k if shared else f"{s}_{k}"]) for s in ("male", "female")}
                    for k in ("mean", "sd"))
        low, high = float(raw["low"]), float(raw["high"])
    except KeyError as exc:
        raise PkdoseError(f"{where}: missing {exc.args[0]}") from None
    if not (low < high and min(sd.values()) > 0):
        raise PkdoseError(f"{where}: needs low < high and sd > 0")
    return CovariateDist(name, low, high, mean, sd, str(raw.get("source", "")))


def _from_raw(name: str, raw: Mapping) -> Population:
    where = f"population {name}"
    sex = raw.get("sex", {})
    frac = float(sex.get("female_fraction", 0.5))
    if not 0 <= frac <= 1:
        raise PkdoseError(f"{where}: female_fraction must be within 0-1")
    dists = tuple(_dist(k, raw[k], f"{where}: {k}") for k in _CONTINUOUS if k in raw)
    return Population(name, str(raw.get("description", "")), frac, dists,
                      dict(raw.get("fixed", {})))


@functools.cache
def _typical_population() -> Population:
    # Built once: the one-row table takes milliseconds, a tenth of a 10,000-subject solve.
    return Population("typical subject", "the typical subject of subject.toml",
                      table=covariate_table({}))


def load_population(name_or_csv: str | Population | pd.DataFrame | None = None) -> Population:
    """A shipped population by name, a CSV of covariates (one row per subject), or None.

    None gives the typical subject (``subject.toml``) for everyone: only the model's random
    effects vary. A CSV (or DataFrame) is used row by row; when more subjects are asked for
    than it has rows, subject ``i`` takes row ``i mod rows`` with its own random effects.
    """
    if isinstance(name_or_csv, Population):
        return name_or_csv
    if name_or_csv is None:
        return _typical_population()
    if isinstance(name_or_csv, pd.DataFrame):
        return Population("table", f"{len(name_or_csv)} given subjects",
                          table=_check_table(name_or_csv, "covariate table"))
    text = str(name_or_csv).strip()
    if text.lower().endswith(".csv") or Path(text).is_file():
        df = read_csv(text, "population file")  # one-line errors for every unreadable file
        return Population(Path(text).name, f"{len(df)} subjects from {text}",
                          table=_check_table(df, text))
    raw = load_toml("populations.toml")
    if text not in raw:
        raise PkdoseError(f"unknown population {text!r}; choose one of "
                          f"{', '.join(raw)} or give a CSV of covariates")
    return _from_raw(text, raw[text])


def _check_table(df: pd.DataFrame, where: str) -> pd.DataFrame:
    if df.empty:
        raise PkdoseError(f"{where} has no subjects")
    df = df.drop(columns=[c for c in df.columns if str(c).strip().lower() == "id"])
    try:
        covariate_table(df)  # validate names, values and ranges now, not per chunk
    except PkdoseError as exc:
        raise PkdoseError(f"{where}: {exc}") from None
    return df.reset_index(drop=True)


# --- random numbers ------------------------------------------------------------------------


def _block_draws(seed: int, purpose: str, start: int, stop: int, k: int,
                 normal: bool = True, index: int | None = None) -> np.ndarray:
    """(stop - start, k) draws for subjects start..stop-1, independent of chunking.

    ``index`` (an occasion or a sample) gets a stream of its own, so the draws of
    occasion 3 do not depend on how many occasions there are.
    """
    if k == 0 or stop <= start:
        return np.zeros((max(stop - start, 0), k))
    parts = []
    for b in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        key = (_PURPOSE[purpose], b) if index is None else (_PURPOSE[purpose], b, int(index))
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))
        x = rng.standard_normal((BLOCK, k)) if normal else rng.random((BLOCK, k))
        lo, hi = max(start - b * BLOCK, 0), min(stop - b * BLOCK, BLOCK)
        parts.append(x[lo:hi])
    return np.concatenate(parts, axis=0)


def _etas(var: Variability, z: np.ndarray) -> np.ndarray:
    root = matrix_root(var.matrix)  # (0, 0) without this variability: no etas
    # eta = z L^T by explicit multiply-adds in a fixed order (not BLAS, whose summation
    # order may depend on the array shape): bitwise the same for any chunking.
    out = np.zeros_like(z)
    for i in range(root.shape[0]):
        for j in range(root.shape[1]):
            if root[i, j] != 0.0:
                out[:, i] += z[:, j] * root[i, j]
    return out


def draw_etas(model: Model, n: int, seed: int = 1, start: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """IIV etas (n, n_iiv) ~ N(0, omega) and IOV etas (n, n_iov) for one occasion.

    Subjects ``start..start+n-1`` of the run with this seed: the same subject gets the
    same etas whichever chunk it is drawn in.
    """
    if n < 0:
        raise PkdoseError("number of subjects must be >= 0")
    stop = start + n
    z_iiv = _block_draws(seed, "iiv", start, stop, len(model.iiv.parameters))
    z_iov = _block_draws(seed, "iov", start, stop, len(model.iov.parameters))
    return _etas(model.iiv, z_iiv), _etas(model.iov, z_iov)


# --- simulation ----------------------------------------------------------------------------


def population_metrics(regimen: Regimen) -> tuple[str, ...]:
    """What a population run asks the engine for each subject: the exposure of the cycle
    (steady state) or first week, the course of a regimen that stops, and mTOR engagement
    with the verdicts (across the turnover prior, at its centre, and by the rules)."""
    from pkdose.engine import PK_METRICS

    course = () if regimen.is_indefinite else ("Cavg course", "Cmax course")
    return (*PK_METRICS, *course, "mTORC1 mean", "mTORC1 above 50", "mTORC2 mean",
            "mTORC2 min", "mTORC2 verdict", "mTORC2 verdict central", "mTORC2 rule verdict")


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs to simulate a range of subjects (picklable)."""

    regimen: Regimen  # with its co-medications
    model: Model
    population: Population
    seed: int
    fan: bool = False
    #: The grid of simulate_course's summaries; None: simulate_population's metrics.
    course_times: np.ndarray | None = None


def _run_unit(job: _Job, start: int, stop: int) -> dict[str, np.ndarray]:
    """Metrics (and fan concentrations), or course summaries, of subjects ``start..stop-1``.

    The engine evaluates a block of subjects at a time and the curves come a cache-sized
    chunk at a time, so the unit holds no more than one row (and fan) per subject.
    """
    from pkdose.engine import evaluate
    from pkdose.simulation import concentration_chunks

    scn = population_scenario(job.regimen, job.model, job.population, stop - start, job.seed,
                              start=start, warn=False)
    trains = compile_trains(job.regimen)
    if job.course_times is not None:
        return _course_summaries(scn.prep, trains, job.course_times)
    out = evaluate(scn, population_metrics(job.regimen))
    if job.fan:
        t = _fan_times()
        out["_fan"] = np.empty((stop - start, t.size), np.float32)
        for lo, hi, rows in concentration_chunks(scn.prep, trains, t):
            out["_fan"][lo:hi] = rows["conc_ng_ml"]
    return out


def _percentiles_over_subjects(pieces: list[np.ndarray], cols: int = 64) -> np.ndarray:
    """:data:`PERCENTILES` (rows) of every column over the subjects of the pieces (n_i, T)
    stacked: ``np.percentile(np.concatenate(pieces), PERCENTILES, axis=0)``, a few columns
    at a time, each gathered as contiguous rows (partitioning down the columns of a
    C-ordered array is several times slower), without a copy of the whole."""
    t = pieces[0].shape[1]
    out = np.empty((len(PERCENTILES), t))
    for a in range(0, t, cols):
        rows = np.concatenate([p[:, a:a + cols].T for p in pieces], axis=1)
        out[:, a:a + cols] = np.percentile(rows, PERCENTILES, axis=1)
    return out


def _fan_times() -> np.ndarray:
    return np.arange(0.0, FAN_HOURS + FAN_STEP_H / 2, FAN_STEP_H)


def _units(n: int, chunk: int, workers: int) -> list[tuple[int, int]]:
    """Whole blocks per unit of work: at most ``chunk`` subjects, and enough units to keep
    every worker busy (results do not depend on the split)."""
    size = -(-int(chunk) // BLOCK) * BLOCK
    if workers > 1:
        per_worker = -(-n // (4 * workers))
        size = min(size, max(BLOCK, -(-per_worker // BLOCK) * BLOCK))
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def _unit_results(job: _Job, units: list[tuple[int, int]], workers: int, scheduler):
    """(index, result) of every unit as it finishes: here, on local processes, or on a
    Dask cluster."""
    if scheduler is not None:
        from pkdose.cluster import dask_map

        yield from dask_map(scheduler, _run_unit, job, units)
    elif workers > 1 and len(units) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")  # safe with threads, same on every OS
        with ProcessPoolExecutor(max_workers=min(workers, len(units)), mp_context=ctx) as ex:
            futs = {ex.submit(_run_unit, job, a, b): i for i, (a, b) in enumerate(units)}
            for fut in as_completed(futs):
                yield futs[fut], fut.result()
    else:
        for i, (a, b) in enumerate(units):
            yield i, _run_unit(job, a, b)


def _simulate(regimen: Regimen | str, n: int, population, seed: int, model, with_,
              chunk: int, progress: Callable[[int, int], None] | None, workers: int | None,
              scheduler, fan: bool = False, course_times: np.ndarray | None = None) -> tuple:
    """One arm: its scenario (the warnings said once for all its subjects), the values of
    every subject by column, in subject order, and the fan pieces (one per unit)."""
    _check_counts(n, chunk, 1 if workers is None else workers)
    workers = auto_workers(n) if workers is None else int(workers)
    pop = load_population(population)
    scn = population_scenario(regimen, model, pop, n, seed, with_)
    units = _units(n, chunk, workers)
    results: list[dict] = [{}] * len(units)
    done = 0
    job = _Job(scn.regimen, scn.model, pop, int(seed), fan, course_times)
    for i, res in _unit_results(job, units, workers, scheduler):
        results[i] = res
        done += units[i][1] - units[i][0]
        if progress is not None:
            progress(done, n)
    fans = [r.pop("_fan") for r in results if "_fan" in r]
    return scn, {k: np.concatenate([r[k] for r in results]) for k in results[0]}, fans


#: Below this many subjects starting worker processes costs more than it saves.
MIN_PARALLEL_SUBJECTS = 4 * BLOCK


def auto_workers(n: int) -> int:
    """Local worker processes for ``n`` subjects: one per CPU, or 1 for small runs."""
    return (os.cpu_count() or 1) if n >= MIN_PARALLEL_SUBJECTS else 1


def parse_times(text: str) -> list[float]:
    """'23.5, 167.5' -> [23.5, 167.5] (hours)."""
    try:
        times = [float(x) for x in str(text).replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise PkdoseError(f"cannot read sampling times {text!r}; give hours separated by "
                          "commas, e.g. 23.5,167.5") from None
    return check_times(times)


def check_times(times) -> list[float]:
    """Sampling times as hours: finite, >= 0 and within the time limit (checked before
    anything is simulated)."""
    try:
        times = [float(t) for t in np.ravel(np.asarray(times, dtype=float))]
    except (TypeError, ValueError):
        raise PkdoseError(f"sampling times must be numbers of hours, got {times!r}") from None
    if not times or not all(math.isfinite(t) and t >= 0 for t in times):
        raise PkdoseError(f"sampling times must be non-negative hours, got {times}")
    if max(times) > MAX_TIME_H:
        raise exceeded("time_h", f"a sampling time of {format_value(max(times), 'h')}")
    return times


def simulate_population(regimen: Regimen | str, n: int, population=None, seed: int = 1,
                        model: Model | str | None = None, with_: Sequence[str] | str = (),
                        chunk: int = 2000,
                        progress: Callable[[int, int], None] | None = None,
                        workers: int | None = 1, scheduler=None, fan: bool = True,
                        ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Exposure and mTOR engagement of ``n`` virtual subjects on one regimen.

    Parameters
    ----------
    regimen : Regimen or str
    n : int
        Number of subjects.
    population : str, Population, DataFrame or None
        ``"older-adults"``, ``"transplant-adults"``, a CSV path, a covariate table, or None
        (the typical subject's covariates; only the random effects vary).
    seed : int
        Same seed, same subjects: bitwise identical results whatever ``chunk``,
        ``workers`` or ``scheduler``.
    model : Model, name, path or None (the drug's default model)
    with_ : co-medications (``pkdose.interactions``), applied to everyone
    chunk : int
        At most this many subjects per unit of work, rounded up to a multiple of ``BLOCK``
        (256). Whatever the chunk, the engine evaluates 256 subjects at a time and curves
        come a cache-sized chunk at a time, so memory per worker stays bounded.
    progress : callable(done, n), optional
        Called after every unit of work.
    workers : int or None
        Local processes (None: :func:`auto_workers`; 1: in this process).
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``tcp://host:8786``) or client: the same units run on
        the cluster (needs ``pkdose[dask]``); ``workers`` is then ignored.
    fan : bool
        Also return the fan (keeps 2.7 kB per subject until the end); False returns None.

    Returns
    -------
    (metrics, fan)
        ``metrics``: one row per subject: id, regimen, model, basis, the covariates, and
        the columns of :func:`population_metrics` from the answer engine
        (:mod:`pkdose.engine`: steady-state cycle for regimens that go on, first week for
        those that stop, with ``cavg_course_ng_ml`` and ``cmax_course_ng_ml`` from the
        first dose to the end of the regimen; no Rac/T90ss): ``mtorc1_mean``,
        ``mtorc2_mean`` and ``mtorc2_min`` at the central human mTORC2 turnover half-life
        (96 h), ``mtorc2_verdict`` judged as ``pkdose flag`` judges it (the same label at
        48, 96 and 168 h, otherwise equivocal), ``mtorc2_verdict_central`` at 96 h alone
        and ``mtorc2_rule_verdict`` by the threshold rules. ``fan``: time_h
        (hourly over the first 4 weeks) and the 5/25/50/75/95th percentiles of whole-blood
        concentration.
    """
    from pkdose.engine import basis_for

    scn, vals, fans = _simulate(regimen, n, population, seed, model, with_, chunk, progress,
                                workers, scheduler, fan=bool(fan))
    reg, cov = scn.regimen, scn.prep.cov
    shown = list(dict.fromkeys(c for c in ("sex", "age_y", "weight_kg", "height_cm", "hct_pct",
                                           "ffm_kg", "bsa_m2", *default_subject())
                               if c in cov.columns))
    ident = pd.DataFrame({"id": np.arange(1, n + 1), "regimen": str(reg),
                          "model": scn.model.name, "comedication": "+".join(scn.comedication),
                          "basis": basis_for(reg).label})
    df = pd.concat([ident, cov[shown].reset_index(drop=True), pd.DataFrame(vals)], axis=1)
    if not fan:
        return df, None
    q = _percentiles_over_subjects(fans)
    return df, pd.DataFrame({"regimen": str(reg), "time_h": _fan_times(),
                             **{f"p{p}": q[i] for i, p in enumerate(PERCENTILES)}})


# --- a whole course on a grid ------------------------------------------------------------

#: Thresholds (ng/mL) for the hours above them over a course.
COURSE_ABOVE_NG_ML = (3.0, 5.0, 15.0)


def _course_summaries(prep, trains, t: np.ndarray) -> dict[str, np.ndarray]:
    """Course summaries of the subjects, a cache-sized chunk of curves at a time (their
    curves are never held at once)."""
    from pkdose.simulation import concentration_chunks

    n = len(prep.cov)
    step = float(t[1] - t[0])
    last_dose = max(tr.last_h if math.isfinite(tr.last_h) else -1.0 for tr in trains)
    i_last = max(int(np.searchsorted(t, min(last_dose, t[-1]), side="right") - 1), 0)
    after_first_day = int(np.searchsorted(t, min(24.0, t[-1])))
    keys = ("cavg_ng_ml", "cmax_ng_ml", "tmax_h", "cmin_after_first_day_ng_ml",
            "ctrough_last_ng_ml", "auc_ng_h_ml", *(f"h_above_{x:g}" for x in COURSE_ABOVE_NG_ML))
    out = {k: np.empty(n) for k in keys}
    for lo, hi, rows in concentration_chunks(prep, trains, t):
        conc = rows["conc_ng_ml"]
        out["auc_ng_h_ml"][lo:hi] = step * (conc.sum(axis=1) - 0.5 * (conc[:, 0] + conc[:, -1]))
        out["cmax_ng_ml"][lo:hi] = conc.max(axis=1)
        out["tmax_h"][lo:hi] = t[np.argmax(conc, axis=1)]
        out["cmin_after_first_day_ng_ml"][lo:hi] = conc[:, after_first_day:].min(axis=1)
        out["ctrough_last_ng_ml"][lo:hi] = conc[:, i_last]
        for x in COURSE_ABOVE_NG_ML:
            out[f"h_above_{x:g}"][lo:hi] = step * np.count_nonzero(conc > x, axis=1)
    out["cavg_ng_ml"] = out["auc_ng_h_ml"] / float(t[-1] - t[0])
    return out


def simulate_course(regimen: Regimen | str, n: int, population=None, seed: int = 1,
                    model: Model | str | None = None, with_: Sequence[str] | str = (),
                    until_h: float | None = None, step_h: float = 1.0, chunk: int = 2000,
                    progress: Callable[[int, int], None] | None = None,
                    workers: int | None = 1, scheduler=None) -> pd.DataFrame:
    """Per-subject summary of a whole course of treatment on a uniform grid.

    The subjects are those of :func:`simulate_population` with the same seed. Each
    subject's whole-blood concentration is computed on ``0, step_h, ... until_h`` (default:
    to the end of a regimen that stops, else 1 year), summarised, and dropped: memory does
    not grow with ``n`` beyond one row per subject.

    Returns
    -------
    DataFrame
        ``id``, ``cavg_ng_ml`` (AUC by the trapezoidal rule / duration), ``cmax_ng_ml``,
        ``tmax_h`` (on the grid), ``cmin_after_first_day_ng_ml``, ``ctrough_last_ng_ml``
        (at the grid point of the last dose, before it is absorbed), ``auc_ng_h_ml``, and
        ``h_above_X`` (grid hours above X ng/mL, X in ``COURSE_ABOVE_NG_ML``).
    """
    from pkdose.simulation import as_regimen, time_grid

    reg = as_regimen(regimen)
    if until_h is None:
        end = block_starts(reg)[-1]
        until_h = float(end) if math.isfinite(end) else 365.0 * 24.0
    t = time_grid(float(until_h), float(step_h))  # refuses a step longer than the course
    scn, vals, _ = _simulate(reg, n, population, seed, model, with_, chunk, progress, workers,
                             scheduler, course_times=t)
    return pd.DataFrame({"id": np.arange(1, n + 1), "regimen": str(scn.regimen),
                         "model": scn.model.name, **vals})


def simulate_curves(regimen: Regimen | str, n: int, population=None, seed: int = 1,
                    model: Model | str | None = None, with_: Sequence[str] | str = (), *,
                    until_h: float | None = None, step_h: float = 1.0,
                    times_h: Sequence[float] | None = None,
                    params: Mapping[str, float] | None = None, output: str = "array",
                    column: str = "conc_ng_ml", memory_budget_bytes: int | None = None):
    """Concentration-time curves of ``n`` virtual subjects (covariates and random effects).

    The subjects are those of :func:`simulate_population` with the same ``population``,
    ``seed`` and model: covariates from the population, IIV from the model's omega and
    one occasion of IOV held for the whole curve (``docs/population.md``). All subjects
    are solved in one call, in blocks within the memory budget (the result does not
    depend on the blocks, bitwise). Also reached as ``pkdose.simulate(regimen, n=...,
    population=..., seed=...)``.

    Parameters
    ----------
    regimen : Regimen or str
        E.g. ``"sirolimus 1 mg daily"``.
    n, population, seed, model, with_ :
        As :func:`simulate_population`: the number of subjects, where their covariates
        come from, the seed of their draws, the model and co-medications.
    until_h, step_h, times_h, params, output, column, memory_budget_bytes :
        As :func:`pkdose.simulate`, except that ``output`` defaults to ``"array"``, the
        (n, n_times) array of ``column``.

    Returns
    -------
    numpy.ndarray or DataFrame
        Row ``i`` (``id`` ``i + 1``) is subject ``i`` of :func:`simulate_population`.
    """
    from pkdose.simulation import (
        as_regimen,
        check_curve_output,
        check_curve_values,
        concentrations,
        curves_output,
        output_times,
        resolve_model,
    )

    _check_counts(n)
    reg = as_regimen(regimen)
    t = output_times(reg, until_h, step_h, times_h)
    m = resolve_model(reg, model, params)
    check_curve_output(output, column, m)
    check_curve_values(m, n, t.size)  # before any subject is drawn
    scn = population_scenario(reg, m, population, n, seed, with_)
    conc = concentrations(scn.prep, compile_trains(reg), t, memory_budget_bytes)
    return curves_output(t, conc, output, column, with_id=True)


def curve_band(regimen: Regimen | str, population=None, n: int = 500, seed: int = 1,
               model: Model | str | None = None, with_: Sequence[str] | str = (), *,
               params: Mapping[str, float] | None = None,
               times_h: Sequence[float]) -> dict[str, np.ndarray]:
    """The 5th and 95th percentile of whole-blood concentration over the subjects of
    :func:`simulate_curves` at ``times_h``: ``{"conc_p5_ng_ml": ..., "conc_p95_ng_ml":
    ...}`` (the shaded band of a figure)."""
    from pkdose.results import POPULATION_PERCENTILES

    conc = simulate_curves(regimen, n, population, seed, model, with_, times_h=times_h,
                           params=params)
    lo, hi = np.percentile(conc, POPULATION_PERCENTILES, axis=0)
    return {"conc_p5_ng_ml": lo, "conc_p95_ng_ml": hi}


def population_scenario(regimen: Regimen | str, model: Model | str | None = None,
                        population=None, n: int = 1000, seed: int = 1,
                        with_: Sequence[str] | str = (), *, start: int = 0,
                        warn: bool = True):
    """A regimen, its model and co-medications bound to subjects ``start..start+n-1`` of
    :func:`simulate_population` with the same ``population`` and seed (their covariates and
    random effects), warning where their dose or covariates leave the model's data.

    Parameters
    ----------
    regimen, population, n, seed, with_ :
        As :func:`simulate_population`.
    model : Model, name, path or None
        None: the drug's default model (its paediatric model when every subject is a child).
    start : int
        The first subject: a unit of work draws its own subjects of the run.
    warn : bool
        False for a unit of work (the arm has warned).

    Returns
    -------
    pkdose.engine.Scenario
    """
    from pkdose.engine import scenario
    from pkdose.simulation import as_regimen, resolve_model

    _check_counts(n, seed=seed)  # a negative seed was numpy's ValueError
    reg = as_regimen(regimen)
    subjects = covariate_table(load_population(population).draw(start, start + n, seed))
    m = resolve_model(reg, model, subjects=subjects)
    if m.is_animal:
        raise PkdoseError(f"virtual populations are human; {m.species} regimens are "
                          "compared for the typical animal", option="population")
    eta, eta_occ = draw_etas(m, n, seed, start)
    return scenario(reg, m, subjects, with_=with_, warn=warn, eta=eta, eta_occ=eta_occ)


def _check_counts(n, chunk=1, workers=1, seed=0) -> None:
    for name, v, low in (("number of subjects", n, 1), ("chunk", chunk, 1),
                         ("workers", workers, 1), ("seed", seed, 0)):
        whole_number(name, v, low)
    if n > MAX_SUBJECTS:
        raise exceeded("subjects", f"{n:,} subjects", option="n")


# --- simulated observations ----------------------------------------------------------------


def draw_occasions(model: Model, n: int, n_occasions: int, seed: int = 1, start: int = 0
                   ) -> np.ndarray:
    """IOV etas (n, n_occasions, n_iov), one independent draw per occasion (dose).

    Occasion ``k`` of subject ``i`` has its own stream: reproducible whatever the chunking
    and however many occasions follow.
    """
    k_iov = len(model.iov.parameters)
    out = np.zeros((n, n_occasions, k_iov))
    for k in range(n_occasions if k_iov else 0):
        z = _block_draws(seed, "occasions", start, start + n, k_iov, index=k)
        out[:, k, :] = _etas(model.iov, z)
    return out


def residual_error(model: Model, pred: np.ndarray, seed: int = 1, start: int = 0
                   ) -> np.ndarray:
    """Observed from predicted concentrations (n, S) with the model's ``[residual]`` table.

    ``C_obs = C_pred (1 + eps_prop) + eps_add``; sample ``j`` of subject ``i`` has its own
    stream. Values are not clipped at zero (censoring is the analyst's choice).
    """
    sd_p = float(model.residual.get("proportional", 0.0))
    sd_a = float(model.residual.get("additive_ng_ml", 0.0))
    n, n_s = pred.shape
    obs = np.empty_like(pred)
    for j in range(n_s):
        z = _block_draws(seed, "residual", start, start + n, 2, index=j)
        obs[:, j] = pred[:, j] * (1.0 + sd_p * z[:, 0]) + sd_a * z[:, 1]
    return obs


def simulate_observations(regimen: Regimen | str, n: int, times_h: Sequence[float],
                          population=None, seed: int = 1, model: Model | str | None = None,
                          with_: Sequence[str] | str = (), residual: bool = True,
                          lloq_ng_ml: float = 0.0) -> pd.DataFrame:
    """Simulated observed whole-blood concentrations of virtual subjects at sampling times.

    The subjects (covariates, IIV) are those of :func:`simulate_population` with the same
    seed. Where the model has between-occasion variability, every dose is an occasion with
    its own draw (de Wit 2016: F; ter Heine 2018: MAT) and the doses are superposed
    exactly (linear models), so the cost grows with the number of doses before the last
    sample; models without IOV use the dose-count-independent solver.

    Returns
    -------
    DataFrame
        ``id, time_h, occasion`` (1-based index of the last dose at or before the sample;
        0 before the first dose), ``pred_ng_ml`` and, with ``residual``, ``obs_ng_ml``
        and ``blq``: an observation at or below 0, or below ``lloq_ng_ml``, is reported
        below the limit of quantification (``blq`` true, ``obs_ng_ml`` NaN), as a
        laboratory would (``pkdose.censoring.below_limit``).
    """
    from pkdose.simulation import central_amounts, concentrations, prepare, to_concentrations

    t = np.array(check_times(times_h))
    scn = population_scenario(regimen, model, population, n, seed, with_)
    m, comed, trains = scn.model, scn.comedication, compile_trains(scn.regimen)
    events = single_doses(trains, float(t.max()))
    occasion = np.searchsorted(np.array([d.t0_h for d in events]), t, side="right")
    if not m.iov.parameters:
        pred = concentrations(scn.prep, trains, t)["conc_ng_ml"]
    else:  # block by block: memory grows with subjects x doses
        pred = np.empty((n, t.size))
        for lo in range(0, n, BLOCK):
            hi = min(n, lo + BLOCK)
            c = scn.prep.cov.iloc[lo:hi].reset_index(drop=True)
            eta, _ = draw_etas(m, hi - lo, seed, lo)
            kappa = draw_occasions(m, hi - lo, len(events), seed, lo)
            central = np.zeros((hi - lo, t.size))
            for k, dose in enumerate(events):
                central += central_amounts(prepare(m, c, eta, kappa[:, k, :], with_=comed),
                                           (dose,), t)
            # IOV acts on absorption and F only: the blood conversion is the subject's own.
            base = prepare(m, c, eta, np.zeros((hi - lo, len(m.iov.parameters))), with_=comed)
            pred[lo:hi] = to_concentrations(m, base.params, central)["conc_ng_ml"]
    df = pd.DataFrame({"id": np.repeat(np.arange(1, n + 1), t.size),
                       "time_h": np.tile(t, n), "occasion": np.tile(occasion, n),
                       "pred_ng_ml": pred.ravel()})
    if residual:
        obs = residual_error(m, pred, seed)  # the draws do not depend on the blocks
        blq = below_limit(obs, lloq_ng_ml)
        df["obs_ng_ml"] = np.where(blq, np.nan, obs).ravel()
        df["blq"] = blq.ravel()
    return df


# --- summaries -----------------------------------------------------------------------------

def summary_target(text: str | Target) -> Target:
    """A target a population summary can report (``pkdose.targets`` grammar): any but a
    value to reach, which is what a dose search solves for."""
    t = parse_target(text)
    if t.op == "=":
        raise PkdoseError(f"target {t.text!r}: a population statistic equals a number "
                          "only at the dose that makes it so (a dose search); to summarise "
                          f"a population write a bound, e.g. {t.text.replace('=', '>=')}")
    return t


def summarise(metrics: pd.DataFrame, targets: Sequence[str | Target] = ()) -> pd.DataFrame:
    """Per regimen: percentiles of every metric, fraction per verdict, target attainment.

    Returns a long table: ``regimen, n, statistic, p5, p25, p50, p75, p95, fraction``.
    Percentile rows (statistic = metric column) leave ``fraction`` empty; verdict rows
    (``mtorc2 spared`` ... as ``pkdose flag`` judges, across the 48-168 h prior;
    ``mtorc2 central spared`` ... at the central 96 h turnover half-life alone;
    ``mtorc2 rules spared`` ... by the threshold rules) and target rows (``P(trough<3)``)
    leave the percentiles empty.
    """
    cols = [c for c in metrics.columns
            if c not in {"id", *COVARIATES} and pd.api.types.is_numeric_dtype(metrics[c])]
    parsed = [summary_target(t) for t in targets]
    for t in parsed:
        if t.column not in metrics:  # e.g. T90ss, which a population run does not compute
            raise PkdoseError(f"target {t.text!r}: the population has no {t.column}; aim at "
                              f"one of {', '.join(cols)} or an mTORC2 verdict")
    groups = metrics.groupby("regimen", sort=False) if "regimen" in metrics else [("", metrics)]
    quantiles = [f"p{p}" for p in PERCENTILES]
    rows = []
    for reg, g in groups:
        base = {"regimen": reg, "n": len(g)}
        for c in cols:
            x = g[c].to_numpy(float)
            # Linear interpolation between two infinite values gives NaN (e.g. the swing
            # of a first week that starts at zero); fall back to the next order statistic.
            q = np.nanpercentile(x, PERCENTILES,
                                 method="higher" if np.isinf(x).any() else "linear")
            rows.append({**base, "statistic": c, **dict(zip(quantiles, q, strict=True))})
        for col, prefix in (("mtorc2_verdict", "mtorc2"),
                            ("mtorc2_verdict_central", "mtorc2 central"),
                            ("mtorc2_rule_verdict", "mtorc2 rules")):
            if col in g:
                for label in LABELS:
                    rows.append({**base, "statistic": f"{prefix} {label}",
                                 "fraction": float(np.mean(g[col] == label))})
        for t in parsed:
            if t.assay is not None:  # a level stated for an immunoassay: the metrics are not
                if not reg:
                    raise PkdoseError(f"target {t.text!r}: converting it needs the drug; give "
                                      "metrics with their regimen column")
                t = t.on_lcms_scale(resolve_drug(str(reg).split()[0]))  # the text's drug
            if t.quantile is None:
                rows.append({**base, "statistic": f"P({t.text})",
                             "fraction": float(np.mean(t.met(g)))})
                continue
            # A population statistic: its value, and whether it meets the condition.
            value = float(np.percentile(g[t.column].to_numpy(float), 100 * t.quantile))
            met = bool(t.met({t.column: np.array([value])})[0])
            rows.append({**base, "statistic": f"{t.text}: {'met' if met else 'not met'}",
                         "p50": value, "fraction": float(met)})
    return pd.DataFrame(rows).reindex(columns=["regimen", "n", "statistic", *quantiles,
                                               "fraction"])
