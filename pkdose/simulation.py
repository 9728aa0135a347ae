"""Library API: regimens in, whole-blood concentration-time curves out (pandas DataFrames).

>>> from pkdose.simulation import simulate
>>> df = simulate("rapamycin 6 mg weekly", until_h=336)       # doctest: +SKIP
>>> df.columns.tolist()                                          # doctest: +SKIP
['time_h', 'conc_ng_ml']

One subject is a population of one: every function takes a covariate table with one row
per subject and returns one curve per subject (column ``id``).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pkdose import metabolite, solver
from pkdose.children import paediatric_bridge, paediatric_model
from pkdose.comedication import FactorSteps, factor_steps, parse_comedications
from pkdose.errors import ExtrapolationWarning, PkdoseError, PkdoseWarning
from pkdose.limits import (
    DAILY_LIMIT_BY_UNIT,
    MAX_CURVE_VALUES,
    MAX_DAILY_MG,
    MAX_DOSE_MG,
    MAX_POINTS,
    MAX_TIME_H,
    exceeded,
    format_value,
)
from pkdose.model import Model, covariate_table, get_model, individual_parameters
from pkdose.regimen import (
    HOURS_PER_WEEK,
    DoseTrain,
    Regimen,
    block_starts,
    check_dose_count,
    compile_trains,
    max_amount_per_day,
    train_doses,
)


def reference_caveats(path: str) -> list[str]:
    """What a regimen file's ``[reference]`` table says that the bare regimen leaves out.

    A reference-library file records whether the regimen reaches the blood at all; read
    as a plain regimen that is lost, so the caller warns instead of simulating something
    else silently. (Its co-medication is part of the regimen read from it.)
    """
    from pkdose.regimen_io import read_regimen_file

    meta = read_regimen_file(path).table("reference")
    if not isinstance(meta.get("systemic", True), bool):
        raise PkdoseError(f"{path}: key 'reference.systemic' must be true or false")
    if meta.get("systemic") is False:
        return [f"{path}: applied to the skin with no systemic exposure (its reference "
                "file); simulated here as if the amount were swallowed"]
    return []


def load_regimens(source: Regimen | str) -> list[Regimen]:
    """Regimens from a Regimen, regimen text, a regimen TOML file or an event-table CSV.

    An event table with several IDs gives one regimen per ID; a reference file with
    ``[[arm]]`` tables one regimen per arm (with its co-medication), as ``pkdose report``
    reads it.
    """
    if isinstance(source, Regimen):
        return [source]
    if not isinstance(source, str):
        raise PkdoseError(f"expected a regimen or regimen text, got {type(source).__name__}")
    low = source.strip().lower()
    if os.path.isdir(source.strip()):  # not text: it was read as an unknown drug's name
        raise PkdoseError(f"{source.strip()} is a folder; give regimen files or regimen text "
                          "(pkdose report reads a folder of regimen files)")
    if low.endswith(".toml"):
        from pkdose.regimen_io import read_regimen_toml

        reg = read_regimen_toml(source.strip())
        for msg in reference_caveats(source.strip()):
            warnings.warn(msg, ExtrapolationWarning, stacklevel=2)
        from pkdose.references import reference_of

        ref = reference_of(source.strip())
        return [a.regimen for a in ref.arms] if ref is not None and ref.arms else [reg]
    if low.endswith(".csv"):
        from pkdose.regimen_io import events_to_regimens, read_events_csv

        path = source.strip()
        return list(events_to_regimens(read_events_csv(path), source=path).values())
    from pkdose.regimen_text import parse_regimen

    return [parse_regimen(source)]


def as_regimen(regimen: Regimen | str) -> Regimen:
    """Accept a Regimen, regimen text, or a file holding exactly one regimen."""
    regs = load_regimens(regimen)
    if len(regs) != 1:
        raise PkdoseError(f"{regimen} holds {len(regs)} regimens; give one, or use compare")
    return regs[0]


def resolve_model(regimen: Regimen, model: Model | str | None,
                  params: Mapping[str, float] | None = None,
                  species: str | None = None, subjects=None) -> Model:
    """The model to use: given, by name or path, else the drug's default for the species
    (default human), or its paediatric model when every one of ``subjects`` is a child
    (:func:`pkdose.children.paediatric_model`); with overrides."""
    if isinstance(model, Model):
        m = model
        if m.drug != regimen.drug:
            raise PkdoseError(f"model {m.name} is for {m.drug}, not {regimen.drug}")
        if species is not None and m.species != species:
            raise PkdoseError(f"model {m.name} is a {m.species} model, not {species}")
    else:
        if model is None and species in (None, "human"):
            model = paediatric_model(regimen.drug, subjects)
        m = get_model(model, drug=regimen.drug, species=species)
    if params:
        m = m.with_params(**params)
    return m


def model_of_drug(model: Model | str | None, regimen: Regimen) -> Model | None:
    """``model`` (object, name or path) for a regimen of its drug; None (the drug's default
    model) for a regimen of another drug: how a chosen model applies to several regimens."""
    if model is None:
        return None
    m = get_model(model) if isinstance(model, str) else model
    return m if m.drug == regimen.drug else None


def params_of_drug(model: Model | str | None, params: Mapping[str, float] | None,
                   regimen: Regimen) -> Mapping[str, float] | None:
    """Typical-value overrides of ``model`` for a regimen it applies to (every regimen's
    default model when ``model`` is None); None for another drug's default model."""
    return params if model is None or model_of_drug(model, regimen) is not None else None


def _resolved(train: DoseTrain, cov: pd.DataFrame) -> np.ndarray:
    if train.unit == "mg":
        return np.full(len(cov), float(train.amount))
    if train.unit == "mg/kg":
        return train.amount * cov["weight_kg"].to_numpy(float)
    if train.unit == "mg/m2":
        bsa = cov["bsa_m2"].to_numpy(float)
        if np.any(np.isnan(bsa)):
            raise PkdoseError("mg/m2 doses need a body-surface area, which pkdose derives "
                              "for people only; give animal doses in mg/kg")
        return train.amount * bsa
    if train.unit == "ppm":
        if "food_g_day" not in cov:
            raise PkdoseError("a ppm diet needs the animals' food intake in g/day (covariate "
                              "food_g_day)", option="food_g_day")
        # ppm = mg drug per kg food; food in g/day, so mg/day = ppm x g/day / 1000.
        return train.amount * cov["food_g_day"].to_numpy(float) / 1000.0
    raise PkdoseError(f"unknown dose unit {train.unit}")


def dose_amounts(train: DoseTrain, cov: pd.DataFrame) -> np.ndarray:
    """Dose in mg per subject, resolving mg/kg and mg/m2 with weight and body-surface area.

    The resolved dose, and what the train gives in 24 h, are held to the mg limits
    (``pkdose.limits``): "100 mg/kg weekly" is 7000 mg for 70 kg.
    """
    mg = _resolved(train, cov)
    if train.unit != "mg" and mg.size:
        most = float(np.max(mg))
        if not most <= MAX_DOSE_MG:  # also NaN and inf
            raise exceeded("dose_mg", f"a dose of {train.amount:g} {train.unit} "
                           f"({most:.4g} mg for the subject)")
        per_day = min(train.n, math.ceil(24.0 / train.ii_h - 1e-9)) if train.ii_h else 1
        if per_day * most > MAX_DAILY_MG:
            raise exceeded("daily_mg", f"{per_day:g} doses of {train.amount:g} {train.unit} "
                           f"within 24 h ({per_day * most:.4g} mg for the subject)")
    return mg


def _span(values: np.ndarray, unit: str) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:.4g} {unit}" if lo == hi else f"{lo:.3g}-{hi:.3g} {unit}"


def _check_animal_doses(model: Model, regimen: Regimen, cov: pd.DataFrame) -> list[str]:
    """Doses of an animal regimen outside the mg/kg or ppm range of the model's sources."""
    msgs = []
    trains = compile_trains(regimen)
    per_kg = [dose_amounts(t, cov) / cov["weight_kg"].to_numpy(float)
              for t in trains if t.unit != "ppm"]
    ppm = [t.amount for t in trains if t.unit == "ppm"]
    for values, key, unit in ((per_kg, "dose_mg_kg", "mg/kg"), (ppm, "diet_ppm", "ppm")):
        rng = model.validity(key)
        if not values or rng is None:
            continue
        vals = np.concatenate([np.atleast_1d(v) for v in values])
        if vals.min() < rng[0] * (1 - 1e-9) or vals.max() > rng[1] * (1 + 1e-9):
            msgs.append(f"{_span(vals, unit)} lies outside the {rng[0]:g}-{rng[1]:g} {unit} "
                        f"range the {model.name} {model.species} model was built from; "
                        "predictions there are extrapolated")
    for route in sorted({t.route for t in trains} - {model.clearance_reference_route}):
        # A route's bioavailability relative to the reference route that the sources could
        # only bracket: every prediction for that route scales with it.
        spec = model.uncertainty.get(f"f_{route}")
        if spec is not None:
            msgs.append(f"{route} exposure in the {model.name} model rests on f_{route} = "
                        f"{model.typical(f'f_{route}'):g}, known only as "
                        f"{spec['low']:g}-{spec['high']:g}; {route} predictions scale with it")
    return msgs


def _check_daily_mg(trains: Sequence[DoseTrain], cov: pd.DataFrame) -> None:
    """Refuse trains that together give more mg in 24 h than the limit, once resolved."""
    in_mg = [t for t in trains if t.unit in DAILY_LIMIT_BY_UNIT or t.unit == "ppm"]
    if len(in_mg) > 1:  # one train is checked by dose_amounts
        most = max_amount_per_day(in_mg, [float(np.max(dose_amounts(t, cov))) for t in in_mg])
        if most > MAX_DAILY_MG * (1 + 1e-12):
            raise exceeded("daily_mg", f"{most:.4g} mg within 24 h for the subject (doses of "
                           "several parts or event rows together)")


def _assumed_size(model: Model, trains: Sequence[DoseTrain], cov: pd.DataFrame) -> list[str]:
    """Say so when mg/kg or mg/m2 doses were resolved with the default subject's size."""
    assumed = set(cov.attrs.get("defaulted", ()))
    names = {"weight_kg": ("weight", "kg"), "height_cm": ("height", "cm")}
    msgs = []
    for unit, keys in (("mg/kg", ("weight_kg",)), ("mg/m2", ("weight_kg", "height_cm"))):
        tr = next((t for t in trains if t.unit == unit), None)
        used = [k for k in keys if k in assumed]
        if tr is None or not used:
            continue
        size = " and ".join(names[k][0] for k in used)
        shown = ", ".join(f"{cov[k].iloc[0]:g} {names[k][1]}" for k in used)
        msgs.append(f"{model.drug} {tr.amount:g} {unit} was resolved with the default "
                    f"subject's {size} ({shown}) to {_span(dose_amounts(tr, cov), 'mg')} per "
                    f"dose; give the subject's {size} for a dose in mg that is theirs")
    return msgs


def outside_dose_range(model: Model, doses_mg: np.ndarray, what: str = "") -> list[str]:
    """The message (a list of none or one) for mg doses outside the range ``model`` was
    fitted to; ``what`` names the doses, e.g. ``"recorded doses: "``."""
    rng = model.validity("dose_mg")
    doses_mg = np.asarray(doses_mg, float)
    if not (rng and doses_mg.size) or (doses_mg.min() >= rng[0] * (1 - 1e-9)
                                       and doses_mg.max() <= rng[1] * (1 + 1e-9)):
        return []
    fitted = (f"the single {rng[0]:g} mg dose" if rng[0] == rng[1]
              else f"the {rng[0]:g}-{rng[1]:g} mg range")
    return [f"{what}{model.drug} {_span(doses_mg, 'mg')} per dose lies outside {fitted} the "
            f"{model.name} model was fitted to; predictions there are extrapolated"]


def check_extrapolation(model: Model, regimen: Regimen, cov: pd.DataFrame) -> list[str]:
    """Warn (ExtrapolationWarning) where dose or covariates leave the model's source data.

    Also warns when mg/kg or mg/m2 doses of a human regimen were resolved with the default
    subject's weight or height (none was given). Raises PkdoseError for a route the model
    cannot take (e.g. a diet with a human model) and for resolved doses beyond the mg
    limits of ``pkdose.limits``.
    """
    from pkdose.regimen import ANIMAL_ROUTES

    trains = compile_trains(regimen)
    _check_daily_mg(trains, cov)
    for route in sorted({t.route for t in trains}):
        if route in ANIMAL_ROUTES and not model.is_animal:
            raise PkdoseError(
                f"{route} dosing is for animal studies and {model.name} is a human model; "
                "choose the animal species (mouse, dog or marmoset) to use its model",
                option="species")
        if route not in model.routes and set(model.routes) <= {"iv", "infusion"}:
            raise PkdoseError(
                f"{model.drug} is given by intravenous infusion only (model {model.name}); "
                f"write e.g. '{model.drug} 25 mg iv weekly' or 'iv over 60 min'")
        if route not in model.routes:
            raise PkdoseError(
                f"model {model.name} was fitted to {'/'.join(model.routes)} dosing only "
                f"(its clearances are apparent, CL/F); {route} doses cannot be simulated with it"
            )
    if model.is_animal:
        msgs = _check_animal_doses(model, regimen, cov)
        rng = model.validity("weight_kg")
        w = cov["weight_kg"].to_numpy(float)
        if rng and np.any((w < rng[0]) | (w > rng[1])):
            msgs.append(f"weight {_span(w, 'kg')} lies outside the {rng[0]:g}-{rng[1]:g} kg "
                        f"range of the {model.name} source animals")
        for m in msgs:
            warnings.warn(m, ExtrapolationWarning, stacklevel=3)
        return msgs
    msgs = _assumed_size(model, trains, cov)
    # A regimen whose every dose is held gives none.
    doses = np.concatenate([dose_amounts(t, cov) for t in trains] + [np.zeros(0)])
    msgs += outside_dose_range(model, doses)
    bridge = paediatric_bridge(model, cov)
    if bridge is not None:  # the model sees the adult reference, not the child
        msgs += bridge.messages
        cov = bridge.model_cov
    for key, label, unit in (("age_y", "age", "y"), ("weight_kg", "weight", "kg"),
                             ("hct_pct", "haematocrit", "%")):
        rng = model.validity(key)
        if rng is None or key not in cov:
            continue
        vals = cov[key].to_numpy(float)
        n_out = int(np.sum((vals < rng[0]) | (vals > rng[1])))
        if n_out:
            who = "the subject" if len(vals) == 1 else f"{n_out} of {len(vals)} subjects"
            msgs.append(
                f"{label} of {who} ({_span(vals, unit)}) lies outside the "
                f"{rng[0]:g}-{rng[1]:g} {unit} range of the {model.name} source population"
            )
    if model.population.get("female_pct") == 0 and np.any(cov["sex"] == "female"):
        msgs.append(f"the {model.name} source population had no women; predictions for "
                    "women are extrapolated")
    for m in msgs:
        warnings.warn(m, ExtrapolationWarning, stacklevel=3)
    return msgs


def _convert(model: Model, p: Mapping[str, np.ndarray], central_mg: np.ndarray,
             outs: dict[str, np.ndarray], per_volume: bool = False) -> None:
    """Central amounts (mg) of the subjects of ``p`` into the concentration arrays ``outs``
    (ng/mL, same shape); ``central_mg`` may be ``outs["conc_ng_ml"]`` itself, and with
    ``per_volume`` is already amount / V1 in ng/mL."""
    conc = outs["conc_ng_ml"]
    c = outs.get("plasma_ng_ml", conc)
    np.maximum(central_mg, 0.0, out=c)
    if not per_volume:
        c *= (1000.0 / p["v1"])[:, None]
    if model.blood == "langmuir_rbc":
        hct = p["hct"][:, None]
        bmax, kd, kns = (p[k][:, None] for k in ("bmax_ng_ml", "kd_ng_ml", "kns"))
        # ter Heine 2018 eq 1: C_rbc = Bmax Cp/(Kd + Cp) + Kns Cp; C_wb = HCT C_rbc + (1-HCT) Cp,
        # i.e. C_wb = Cp (HCT Bmax/(Kd + Cp) + HCT Kns + 1 - HCT), formed in place in four
        # passes with no temporary.
        np.add(c, kd, out=conc)
        np.divide(hct * bmax, conc, out=conc)
        conc += hct * kns + (1.0 - hct)
        conc *= c


def _outputs(model: Model, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    return {k: np.empty(shape) for k in model.outputs}


def to_concentrations(model: Model, p: Mapping[str, np.ndarray], central_mg: np.ndarray
                      ) -> dict:
    """Central amount (mg) to concentration columns (ng/mL): ``conc_ng_ml`` (whole blood),
    and ``plasma_ng_ml`` for models with red-cell binding."""
    outs = _outputs(model, central_mg.shape)
    _convert(model, p, central_mg, outs)
    return outs


#: Working memory (bytes) that one call may use beyond its result: subjects are solved in
#: blocks that fit, so a population of any size runs in bounded memory and one call is
#: never slower than blocks. Change it with :func:`set_memory_budget`.
MEMORY_BUDGET_BYTES = 256 << 20


def set_memory_budget(n_bytes: int) -> int:
    """Set the working-memory budget of the solver calls.

    Results do not depend on it: every subject is solved by per-subject arithmetic.

    Parameters
    ----------
    n_bytes : int
        Bytes that one call of :func:`central_amounts`, :func:`concentrations` or
        :func:`steady_state_concentrations` may hold beyond its result (default 256 MB).

    Returns
    -------
    int
        The previous budget, to restore it.
    """
    global MEMORY_BUDGET_BYTES
    previous, MEMORY_BUDGET_BYTES = MEMORY_BUDGET_BYTES, _check_budget(n_bytes)
    return previous


#: Subjects in the first block of a call: its plans measure the memory that the plans of
#: the remaining subjects will hold.
PROBE_SUBJECTS = 256
#: Working memory of a block, as a multiple of what its finished plans hold: the plans are
#: built through temporaries of their own size (coefficient powers, gathered responses).
PLAN_WORKING_FACTOR = 4


def _check_budget(n_bytes) -> int:
    if not (isinstance(n_bytes, (int, np.integer)) and not isinstance(n_bytes, bool)
            and n_bytes > 0):
        raise PkdoseError(f"memory budget must be a positive number of bytes, got {n_bytes!r}",
                          option="memory_budget_bytes")
    return int(n_bytes)


def _budget(budget_bytes: int | None) -> int:
    return MEMORY_BUDGET_BYTES if budget_bytes is None else _check_budget(budget_bytes)


def _planned_blocks(prep: Prepared, plans_of, n_times: int, budget_bytes: int | None = None):
    """Subject blocks (lo, hi, sub-Prepared, plans) within the memory budget.

    The first block is sized for the worst case, 8 bytes x times x (states + 4) per
    subject (value-by-value paths hold a few arrays of one value per output time and
    state), and at most :data:`PROBE_SUBJECTS`. The rest are sized by what the first
    block's plans hold per subject (x :data:`PLAN_WORKING_FACTOR`): a train on a regular
    grid is a plan of blocks that holds a few hundred values per subject, so ten thousand
    subjects are one block and one pass of Python, while value-by-value plans keep the
    worst-case size. Results do not depend on the blocks (per-subject arithmetic).
    """
    budget = _budget(budget_bytes)
    n = len(prep.cov)
    worst = max(1, budget // (8 * max(n_times, 1) * (prep.system.n_states + 4)))
    lo, size = 0, min(worst, PROBE_SUBJECTS)
    while lo < n:
        hi = min(n, lo + size)
        sub = prep if (lo, hi) == (0, n) else prep.rows(lo, hi)
        plans = plans_of(sub)
        yield lo, hi, sub, plans
        held = PLAN_WORKING_FACTOR * solver.plans_nbytes(plans) / (hi - lo)
        size = max(worst, int(budget // max(held, 1.0)))
        lo = hi


@dataclass(frozen=True)
class Prepared:
    """A model bound to subjects: covariates and structural parameters as arrays."""

    model: Model
    cov: pd.DataFrame
    params: Mapping[str, np.ndarray]
    system: solver.System
    #: CL and F factors of co-medications that start or stop (``pkdose.comedication``).
    steps: FactorSteps | None = None

    def route_inputs(self, route: str) -> tuple[solver.System, np.ndarray]:
        """The system and bioavailable fraction for doses of ``route``.

        Depot routes scale ``f`` by the model's ``f_<route>`` and absorb at ``ka_<route>``
        when it has them (relative to its reference route).
        """
        p = self.params
        bio = p["f"] * p.get(f"f_{route}", 1.0)
        ka = p.get(f"ka_{route}")
        if ka is None or "ka" not in p:
            return self.system, bio
        return solver.build_system({**p, "ka": ka}, self.model.n_chain), bio

    def rows(self, lo: int, hi: int) -> Prepared:
        """The subjects ``lo:hi``."""
        n = len(self.cov)
        params = {k: (v[lo:hi] if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == n
                      else v) for k, v in self.params.items()}
        return Prepared(self.model, self.cov.iloc[lo:hi], params,
                        solver.subset(self.system, slice(lo, hi)), self.steps)


def prepare(model: Model, subjects=None, eta: np.ndarray | None = None,
            eta_occ: np.ndarray | None = None, with_: Sequence[str] | str = ()) -> Prepared:
    """Bind a model to subjects (covariate mapping, DataFrame or None for the typical one).

    ``with_`` names co-medications whose cited fold-changes on CL/F and F
    (``pkdose/data/interactions.toml``) are applied to every subject; those taken on some
    days only (``"ketoconazole day 8-14"``) change CL and F over time
    (:mod:`pkdose.comedication`).
    """
    cov = subjects if isinstance(subjects, pd.DataFrame) and "bsa_m2" in subjects else (
        covariate_table(subjects, model=model))
    if model.is_animal and "food_g_day" not in cov:
        from pkdose.species import food_intake

        try:
            # assign, not item assignment: a complete table passed in is the caller's.
            cov = cov.assign(food_g_day=[
                food_intake(model.species, w, model.strain, sex)
                for w, sex in zip(cov["weight_kg"], cov["sex"], strict=True)])
        except PkdoseError:
            pass  # only a ppm diet needs it, and dose_amounts then says how to give it
    bridge = paediatric_bridge(model, cov)
    p = individual_parameters(model, cov if bridge is None else bridge.model_cov, eta, eta_occ)
    if bridge is not None:
        p = bridge.apply(p)
    if not model.is_animal:
        from pkdose.conditions import apply_conditions

        p = apply_conditions(p, model, cov)
    comeds = parse_comedications(with_)
    whole = [c.name for c in comeds if not c.timed]
    timed = [c for c in comeds if c.timed]
    if comeds:
        from pkdose.interactions import apply_interactions

        # Every name is checked (unknown, twice, carried by a covariate) even if timed.
        apply_interactions(p, model, [c.name for c in comeds])
        p = apply_interactions(p, model, whole)
    steps = factor_steps(model.drug, timed) if timed else None
    return Prepared(model, cov, p, solver.build_system(p, model.n_chain), steps)


def _expand_doses(trains: Sequence[DoseTrain], cov: pd.DataFrame, until_h: float):
    """Explicit dose times (D,) and amounts (n, D) before ``until_h``, merged by time; the
    amounts are (1, D) when every subject has the same doses (fixed-mg doses)."""
    check_dose_count(trains, until_h)  # solved dose by dose: bound the work first
    amounts = [dose_amounts(tr, cov) for tr in trains]
    shared = all(np.all(amt == amt[:1]) for amt in amounts)
    per_time: dict[float, np.ndarray] = {}
    for tr, amt in zip(trains, amounts, strict=True):
        for t, _ in train_doses((tr,), until_h):
            per_time[t] = per_time.get(t, 0.0) + (amt[:1] if shared else amt)
    times = np.array(sorted(per_time))
    doses = np.stack([per_time[t] for t in times], axis=1) if len(times) else np.zeros(
        (1 if shared else len(cov), 0))
    return times, doses


def input_trains(model: Model, trains: Sequence[DoseTrain]) -> tuple[DoseTrain, ...]:
    """Trains as the solver takes them: diets spread over the species' feeding pattern."""
    if not any(t.route == "diet" for t in trains):
        return tuple(trains)
    from pkdose.species import diet_trains, feeding_pattern

    return diet_trains(trains, feeding_pattern(model.species))


def _route_plans(prep: Prepared, tr: DoseTrain, times: np.ndarray,
                 steady_state: bool = False) -> list[solver.Plan]:
    sys, bio = prep.route_inputs(tr.route)
    amount = dose_amounts(tr, prep.cov)
    p = prep.params
    if prep.model.absorption == "parallel_zero_first_order" and tr.route == "oral":
        return solver.parallel_plans(sys, tr, amount, bio, p["fr_zo"], p["tk0"], p["tlag"],
                                     times, steady_state=steady_state)
    return [solver.train_plan(sys, tr, amount, bio, p["tlag"], times,
                              steady_state=steady_state)]


def _plans(prep: Prepared, trains: Sequence[DoseTrain], times_h: np.ndarray
           ) -> list[solver.Plan]:
    """Plans of the central amount for every train (one for a Michaelis-Menten regimen)."""
    model, p, sys = prep.model, prep.params, prep.system
    if prep.steps is not None:
        from pkdose.timevarying import segmented_central

        return [solver.dense_plan(segmented_central(prep, trains, times_h, prep.steps))]
    if model.absorption == "michaelis_menten":
        if any(t.route != "oral" for t in trains):
            raise PkdoseError("Michaelis-Menten absorption models take oral doses only")
        lag = float(np.max(p["tlag"])) if np.any(p["tlag"]) else 0.0
        if lag:
            raise PkdoseError("lag time with Michaelis-Menten absorption is not supported")
        dose_t, doses = _expand_doses(trains, prep.cov, float(times_h.max(initial=0.0)))
        if dose_t.size == 0:
            return []
        f = p["f"]
        if doses.shape[0] == 1 and np.all(f == f[:1]):
            f = f[:1]  # the same absorbed doses for everyone: one row, not one per subject
        plan, _ = solver.mm_plan(sys, p["vm"], p["km"], dose_t, doses * f[:, None], times_h)
        return [plan]
    return [pl for tr in input_trains(model, trains) for pl in _route_plans(prep, tr, times_h)]


def central_amounts(prep: Prepared, trains: Sequence[DoseTrain], times_h: np.ndarray,
                    budget_bytes: int | None = None) -> np.ndarray:
    """Central-compartment amount (mg), shape (n_subjects, n_times).

    Subjects are solved in blocks within ``budget_bytes`` (default
    :data:`MEMORY_BUDGET_BYTES`) of working memory beyond the result.
    """
    times_h = np.asarray(times_h, float)
    out = np.empty((len(prep.cov), times_h.size))
    for lo, hi, _, plans in _planned_blocks(prep, lambda sub: _plans(sub, trains, times_h),
                                            times_h.size, budget_bytes):
        solver.fill_chunked(plans, out[lo:hi])
    return out


def concentrations(prep: Prepared, trains: Sequence[DoseTrain], times_h: np.ndarray,
                   budget_bytes: int | None = None,
                   out: Mapping[str, np.ndarray] | None = None) -> dict:
    """Concentration arrays (n_subjects, n_times) by column name (``conc_ng_ml``, ...).

    Subjects are solved in blocks within ``budget_bytes`` (default
    :data:`MEMORY_BUDGET_BYTES`) of working memory beyond the result; each cache-sized
    chunk of central amounts is converted while it is still in cache, written straight
    into the result.

    ``out``: arrays to write the result into, by column (C-ordered float64, (n_subjects,
    n_times)), e.g. those of an earlier call: a caller that solves populations again
    and again then reuses memory it has already touched instead of the operating system
    handing out (and zeroing) fresh pages for every result (for 10,000 subjects x 2,185
    times, 175 MB, a large part of the time of a linear model).
    """
    times_h = np.asarray(times_h, float)
    shape = (len(prep.cov), times_h.size)
    if prep.model.metabolite:
        if out is not None:
            raise PkdoseError("out (arrays to write into) is not available for "
                              "parent-metabolite models", option="out")
        return _chain_whole(prep, trains, times_h, False, budget_bytes)
    outs = _outputs(prep.model, shape) if out is None else _checked_out(prep.model, out, shape)
    _solve_into(prep, lambda sub: _plans(sub, trains, times_h), times_h.size, outs,
                budget_bytes)
    return outs


def _checked_out(model: Model, out: Mapping[str, np.ndarray], shape: tuple[int, int]
                 ) -> dict[str, np.ndarray]:
    want = tuple(_outputs(model, (0, 0)))
    if not isinstance(out, Mapping) or set(out) != set(want):
        raise PkdoseError(f"out must map {', '.join(want)} to arrays", option="out")
    for k, v in out.items():
        if not (isinstance(v, np.ndarray) and v.dtype == np.float64 and v.shape == shape
                and v.flags.c_contiguous and v.flags.writeable):
            raise PkdoseError(f"out[{k!r}] must be a writeable C-ordered float64 array of "
                              f"shape {shape}", option="out")
    return dict(out)


def _solve_into(prep: Prepared, plans_of, n_times: int, outs: dict[str, np.ndarray],
                budget_bytes: int | None = None) -> None:
    for _ in _converted_chunks(prep, plans_of, n_times, budget_bytes, outs):
        pass


def _converted_chunks(prep: Prepared, plans_of, n_times: int, budget_bytes: int | None,
                      outs: dict[str, np.ndarray] | None = None):
    """Concentrations of cache-sized chunks of subjects: yields ``(lo, hi, rows)`` with
    ``rows`` the chunk's arrays by column, rows of ``outs`` (n, T) or, without ``outs``,
    of scratch arrays reused for every chunk."""
    n = len(prep.cov)
    scratch = outs is None
    if scratch:
        outs = _outputs(prep.model, (min(n, solver.chunk_rows(n_times)), n_times))
    conc = outs["conc_ng_ml"]
    for lo, hi, sub, plans in _planned_blocks(prep, plans_of, n_times, budget_bytes):
        p = sub.params
        # mg in V1 litres -> ng/mL folded into the plans' small coefficient arrays, so the
        # output is not passed over once more for it.
        per_litre = 1000.0 / p["v1"]
        for a, b, chunk in solver.filled_chunks([pl.scaled(per_litre) for pl in plans],
                                                conc if scratch else conc[lo:hi],
                                                hi - lo if scratch else None):
            rows = {k: v[:b - a] if scratch else v[lo + a:lo + b] for k, v in outs.items()}
            _convert(prep.model, {k: p[k][a:b] for k in _CONVERT_KEYS if k in p}, chunk,
                     rows, per_volume=True)
            yield lo + a, lo + b, rows


def concentration_chunks(prep: Prepared, trains: Sequence[DoseTrain], times_h: np.ndarray,
                         budget_bytes: int | None = None):
    """Concentrations a cache-sized chunk of subjects at a time, for summaries that never
    hold every curve.

    Yields
    ------
    (lo, hi, rows)
        Subjects ``lo:hi`` and their concentration arrays (hi - lo, n_times) by column
        (as :func:`concentrations`), valid until the next chunk: the arrays are reused.
    """
    times_h = np.asarray(times_h, float)
    if prep.model.metabolite:
        yield from _chain_chunks(prep, trains, times_h, False, budget_bytes)
        return
    yield from _converted_chunks(prep, lambda sub: _plans(sub, trains, times_h), times_h.size,
                                 budget_bytes)


_CONVERT_KEYS = ("v1", "hct", "bmax_ng_ml", "kd_ng_ml", "kns")


def _chain_chunks(prep: Prepared, trains: Sequence[DoseTrain], times_h: np.ndarray,
                  steady_state: bool, budget_bytes: int | None = None):
    """Parent-metabolite concentrations (``conc_ng_ml`` the metabolite, ``<drug>_ng_ml``
    the parent) of blocks of subjects within the memory budget: yields ``(lo, hi, rows)``.

    A bare ``iv`` dose is infused over the model's ``default_infusion_h`` (warned once).
    """
    model, n = prep.model, len(prep.cov)
    if prep.steps is not None:
        # The parent-metabolite solution has no time-varying clearance (pkdose.timevarying).
        raise PkdoseError(f"model {model.name} (parent and metabolite) takes co-medications for "
                          "the whole course only, not for some days; drop the days to apply "
                          "it throughout")
    if model.default_infusion_h and any(t.route == "iv" for t in trains):
        warnings.warn(f"{model.drug} iv doses are infused over "
                      f"{format_value(model.default_infusion_h, 'h')} (model {model.name}); "
                      "write e.g. 'iv over 60 min' for another duration", PkdoseWarning,
                      stacklevel=3)
    doses = [(tr, dose_amounts(tr, prep.cov),
              tr.infusion_h if tr.route == "infusion" else model.default_infusion_h)
             for tr in trains]
    # basis, states and results: about 4 arrays of (subjects, states, times) at once.
    rows = max(1, _budget(budget_bytes) // (32 * (metabolite.N_STATES_MAX + 1)
                                            * max(times_h.size, 1)))
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        p = {k: v[lo:hi] for k, v in prep.params.items() if isinstance(v, np.ndarray)}
        ch = metabolite.build_chain(p, model.metabolite_ratio)
        parent_mg, met_mg = metabolite.amounts(
            ch, [(tr, amt[lo:hi], dur) for tr, amt, dur in doses], times_h, steady_state)
        yield lo, hi, {"conc_ng_ml": met_mg * (1000.0 / p["v_m"])[:, None],
                       f"{model.drug}_ng_ml": parent_mg * (1000.0 / p["v1"])[:, None]}


def _chain_whole(prep: Prepared, trains: Sequence[DoseTrain], times_h: np.ndarray,
                 steady_state: bool, budget_bytes: int | None = None) -> dict:
    """:func:`_chain_chunks` gathered into whole (n, T) arrays."""
    outs = _outputs(prep.model, (len(prep.cov), times_h.size))
    for lo, hi, rows in _chain_chunks(prep, trains, times_h, steady_state, budget_bytes):
        for key, vals in rows.items():
            outs[key][lo:hi] = vals
    return outs


def steady_state_trains(regimen: Regimen) -> tuple[tuple[DoseTrain, ...], float, float]:
    """The endless trains of the last block, their common period, and the cycle start."""
    if not regimen.is_indefinite:
        raise PkdoseError(
            "this regimen stops, so it has no steady state; "
            "drop 'for ...'/'x N' to see the steady state"
        )
    period = regimen.steady_state_period_h()
    start = block_starts(regimen)[-2]
    trains = tuple(t for t in compile_trains(regimen) if math.isinf(t.n))
    return trains, period, start


def steady_state_concentrations(prep: Prepared, regimen: Regimen, times_in_cycle: np.ndarray
                                ) -> dict:
    """Concentrations over one cycle of the periodic steady state.

    ``times_in_cycle`` are hours from the start of a cycle (the first dose of the repeating
    pattern), 0 <= t <= period.
    """
    trains, period, start = steady_state_trains(regimen)
    if prep.steps is not None:
        raise PkdoseError("a co-medication that starts or stops leaves no steady state; "
                          "summarise the whole course or a window instead")
    t = np.asarray(times_in_cycle, float)
    model = prep.model
    if model.metabolite:
        shifted = [DoseTrain(tr.t0_h - start, tr.ii_h, tr.n, tr.amount, tr.unit, tr.route,
                             tr.infusion_h) for tr in trains]
        return _chain_whole(prep, shifted, t, True)

    def plans_of(sub: Prepared) -> list[solver.Plan]:
        p = sub.params
        if model.absorption == "michaelis_menten":
            # Every dose of one cycle: a train with a shorter interval than the common
            # period (e.g. daily doses in a weekly pattern) contributes several.
            per_offset: dict[float, np.ndarray] = {}
            for tr in trains:
                first = float(np.mod(tr.t0_h - start, tr.ii_h))
                for k in range(int(round(period / tr.ii_h))):
                    off = round(first + k * tr.ii_h, 9)
                    per_offset[off] = per_offset.get(off, 0.0) + dose_amounts(tr, sub.cov)
            offsets = np.array(sorted(per_offset))
            doses = np.stack([per_offset[o] for o in offsets], 1) * p["f"][:, None]
            return [solver.dense_plan(solver.mm_steady_state(
                sub.system, p["vm"], p["km"], offsets, doses, period, t))]
        return [pl for tr in input_trains(model, trains)
                for pl in _route_plans(sub, DoseTrain(tr.t0_h - start, tr.ii_h, tr.n, tr.amount,
                                                      tr.unit, tr.route, tr.infusion_h),
                                       t, steady_state=True)]

    outs = _outputs(model, (len(prep.cov), t.size))
    _solve_into(prep, plans_of, t.size, outs)
    return outs


def default_until_h(regimen: Regimen) -> float:
    """A horizon that shows the regimen: 4 weeks, or the regimen plus one week."""
    end = block_starts(regimen)[-1]
    if math.isinf(end):
        period = regimen.steady_state_period_h() or HOURS_PER_WEEK
        return float(max(4 * HOURS_PER_WEEK, block_starts(regimen)[-2] + 2 * period))
    return float(end + HOURS_PER_WEEK)


def time_grid(until_h: float, step_h: float, start_h: float = 0.0) -> np.ndarray:
    """Uniform grid from ``start_h`` to ``until_h`` inclusive."""
    if not (math.isfinite(until_h) and until_h > start_h):
        raise PkdoseError(f"simulation end must be after {start_h:g} h, got {until_h:g} h")
    if not (math.isfinite(step_h) and step_h > 0):
        raise PkdoseError(f"time step must be positive, got {step_h:g} h", option="step_h")
    if step_h > until_h - start_h:
        # One point (the start) would be the whole answer: a step typed for the end.
        raise PkdoseError(f"a time step of {format_value(step_h, 'h')} is longer than the "
                          f"{format_value(until_h - start_h, 'h')} simulated; give a shorter "
                          "step", option=("step_h", "until_h"))
    if until_h > MAX_TIME_H:
        raise exceeded("time_h", f"a simulation end of {format_value(until_h, 'h')}",
                       option="until_h")
    npts = math.floor((until_h - start_h) / step_h + 1e-9) + 1
    if npts > MAX_POINTS:
        raise exceeded("points", f"{format_value(npts, 'output points')} "
                       f"({format_value(until_h - start_h, 'h')} every "
                       f"{format_value(step_h, 'h')})", option=("step_h", "until_h"))
    return start_h + step_h * np.arange(npts)


def output_times(regimen: Regimen, until_h: float | None = None, step_h: float = 1.0,
                 times_h: Sequence[float] | None = None) -> np.ndarray:
    """The output times of a curve: ``times_h`` as given (checked), else the grid
    0..``until_h`` every ``step_h`` hours (default horizon: :func:`default_until_h`)."""
    if times_h is None:
        return time_grid(until_h if until_h is not None else default_until_h(regimen), step_h)
    try:
        t = np.asarray(times_h, float)
    except (TypeError, ValueError):
        raise PkdoseError("output times must be numbers of hours") from None
    if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise PkdoseError("output times must be finite, non-negative hours")
    if t.size > MAX_POINTS:
        raise exceeded("points", f"{t.size:,} output times")
    if t.size and t.max() > MAX_TIME_H:
        raise exceeded("time_h", f"an output time of {format_value(t.max(), 'h')}")
    return t


#: What curves can be returned as (``output`` of :func:`simulate`).
CURVE_OUTPUTS = ("long", "wide", "array")


def check_curve_output(output: str, column: str, model: Model) -> None:
    """Refuse an unknown ``output`` or a concentration column the model does not have."""
    if output not in CURVE_OUTPUTS:
        raise PkdoseError(f"unknown output {output!r}; choose {', '.join(CURVE_OUTPUTS)}",
                          option="output")
    have = model.outputs
    if column not in have:
        raise PkdoseError(f"model {model.name} gives {' and '.join(have)}, not {column!r}",
                          option="column")


def check_curve_values(model: Model, n_subjects: int, n_times: int) -> None:
    """Refuse curves whose concentrations would not fit the limit on values held at once,
    before anything is allocated."""
    values = n_subjects * n_times * len(model.outputs)
    if values > MAX_CURVE_VALUES:
        raise exceeded("curve_values", f"{n_subjects:,} curves of {n_times:,} output times "
                       f"({format_value(8.0 * values, 'bytes')})",
                       option=("n", "step_h", "until_h"))


def curves_output(t: np.ndarray, conc: Mapping[str, np.ndarray], output: str = "long",
                  column: str = "conc_ng_ml", with_id: bool | None = None):
    """Curves (n, T) arrays by column as asked: ``"long"`` (:func:`curves_frame`),
    ``"wide"`` (one row per subject, index ``id`` from 1, one column per output time, the
    values of ``column``) or ``"array"`` (the (n, T) array of ``column`` itself)."""
    if output == "array":
        return conc[column]
    if output == "wide":
        vals = conc[column]
        return pd.DataFrame(vals, index=pd.RangeIndex(1, vals.shape[0] + 1, name="id"),
                            columns=pd.Index(t, name="time_h"), copy=False)
    return curves_frame(t, conc, with_id)


def simulate(regimen: Regimen | str, model: Model | str | None = None, subjects=None,
             until_h: float | None = None, step_h: float = 1.0,
             times_h: Sequence[float] | None = None,
             params: Mapping[str, float] | None = None,
             with_: Sequence[str] | str = (), species: str | None = None, *,
             n: int | None = None, population=None, seed: int | None = None,
             output: str = "long", column: str = "conc_ng_ml",
             memory_budget_bytes: int | None = None):
    """Predicted concentration-time curve(s) for a regimen.

    Parameters
    ----------
    regimen : Regimen or str
        E.g. ``"rapamycin 6 mg weekly"``.
    model : Model, str or None
        Model object, built-in name (``pkdose models``), path to a model TOML, or None for
        the drug's default model.
    subjects : mapping, DataFrame or None
        Covariates (one mapping = one subject; DataFrame = one row per subject); defaults
        are the typical subject of ``pkdose/data/subject.toml``. Typical parameters for
        those covariates: no random effects.
    until_h, step_h : float
        Output grid 0..until_h every step_h hours (default horizon: see
        :func:`default_until_h`).
    times_h : sequence of float, optional
        Explicit output times instead of a grid.
    params : mapping, optional
        Typical-value overrides, e.g. ``{"cl": 7.5}``.
    with_ : str or sequence of str
        Co-medications, e.g. ``"ciclosporin"`` (``pkdose.interactions``).
    species : str, optional
        ``mouse``, ``dog`` or ``marmoset`` selects that species' default model (and makes
        the subjects animals: weight and sex only); default human.
    n, population, seed : optional
        Virtual subjects instead of ``subjects``: ``n`` subjects (default 1000 when a
        population or seed is given) drawn from ``population`` (a shipped name, a CSV, a
        covariate table, or None for the typical subject's covariates) with the model's
        random effects, the same subjects as :func:`pkdose.simulate_population` with the
        same ``seed`` (default 1); see :func:`pkdose.population.simulate_curves`.
    output : {"long", "wide", "array"}
        A long DataFrame (the default), a wide one (one row per subject, one column per
        output time) or the (n_subjects, n_times) array of ``column``.
    column : str
        What ``wide`` and ``array`` hold: ``conc_ng_ml`` (whole blood) or, for models with
        red-cell binding, ``plasma_ng_ml``.
    memory_budget_bytes : int, optional
        Working memory beyond the result (default
        :data:`MEMORY_BUDGET_BYTES`, 256 MB): subjects are solved in blocks that fit.

    Returns
    -------
    DataFrame or numpy.ndarray
        Long: columns ``id`` (when several subjects, always for virtual ones), ``time_h``,
        ``conc_ng_ml`` (whole blood) and ``plasma_ng_ml`` where the model has plasma.
    """
    if n is not None or population is not None or seed is not None:
        if subjects is not None or species is not None:
            raise PkdoseError("give either subjects (covariates, typical parameters) or a "
                              "virtual population (n, population, seed), not both; virtual "
                              "populations are of human subjects", option="subjects")
        from pkdose.population import simulate_curves

        return simulate_curves(regimen, 1000 if n is None else n, population,
                               1 if seed is None else seed, model, with_, until_h=until_h,
                               step_h=step_h, times_h=times_h, params=params, output=output,
                               column=column, memory_budget_bytes=memory_budget_bytes)
    reg = as_regimen(regimen).with_comedications(with_)
    m = resolve_model(reg, model, params, species, subjects)
    check_curve_output(output, column, m)
    from pkdose.conditions import regimen_subjects

    prep = prepare(m, regimen_subjects(reg, subjects),
                   with_=[str(c) for c in reg.comedications])
    check_extrapolation(m, reg, prep.cov)
    t = output_times(reg, until_h, step_h, times_h)
    check_curve_values(m, len(prep.cov), t.size)
    conc = concentrations(prep, compile_trains(reg), t, memory_budget_bytes)
    return curves_output(t, conc, output, column)


def curves_frame(t: np.ndarray, conc: Mapping[str, np.ndarray], with_id: bool | None = None
                 ) -> pd.DataFrame:
    """Long DataFrame (id, time_h, conc columns) from (n, T) arrays; ``id`` (from 1) when
    there are several curves or ``with_id``.

    The concentration columns are the given arrays flattened, not copied (the frame shares
    their memory; copying 10,000 curves of a year costs more than computing them), and the
    columns are built in their final order in one constructor call: inserting a column
    into a frame of millions of rows copies it.
    """
    first = next(iter(conc.values()))
    n = first.shape[0]
    data: dict[str, np.ndarray] = {}
    if n > 1 if with_id is None else with_id:
        data["id"] = np.repeat(np.arange(1, n + 1), t.size)
    data["time_h"] = np.tile(t, n)
    data.update({k: np.ascontiguousarray(v).reshape(-1) for k, v in conc.items()})
    return pd.DataFrame(data, copy=False)
