"""Cross-species exposure matching: which human regimen gives the exposure of a mouse one?

Doses in ppm of food or mg/kg cannot be compared with human mg doses; predicted whole-blood
exposure can. :func:`animal_exposure` runs an animal regimen on its species model,
:func:`translate` searches human regimens made of marketed tablets on daily and
intermittent schedules for the one whose exposure matches it on a chosen metric, and
:func:`to_animal` does the reverse against the animal lifespan library
(:func:`pkdose.references.lifespan`). :func:`lifespan_exposure` predicts every library
regimen, for the table in ``docs/species.md`` and the lifespan figure.

Regimens that stop ("for 90 days", "for 3 months") are compared at the steady state of
their repeating dose, i.e. the exposure while on treatment; on/off cycles ("every other
month") at the steady state of the whole cycle, breaks included.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from pkdose.drugs import tablet_doses
from pkdose.errors import PkdoseError
from pkdose.model import Model, get_model
from pkdose.regimen import ANIMAL_ROUTES, Regimen
from pkdose.regimen_text import parse_regimen
from pkdose.simulation import as_regimen, resolve_model

__all__ = ["MATCH_METRICS", "HUMAN_SCHEDULES", "CAVEATS", "animal_exposure", "animal_range",
           "translate", "to_animal", "lifespan_exposure"]

#: ``--match`` choices: the exposure column compared, its label and unit.
MATCH_METRICS = MappingProxyType({
    "cavg": ("cavg_ng_ml", "Cavg", "ng/mL"),
    "auc168": ("auc168_ng_h_ml", "AUC168", "ng*h/mL"),
    "trough": ("cmin_ng_ml", "trough (Cmin)", "ng/mL"),
    "mtorc1": ("mtorc1_mean", "mean mTORC1 inhibition", "fraction"),
})

#: Human schedules searched, as regimen-text schedules and their names.
HUMAN_SCHEDULES = ("daily", "every 2 days", "every 3 days", "weekly", "every 2 weeks")

#: Most tablets taken at once when building human doses (8 x 2 mg = 16 mg).
MAX_TABLETS = 8

#: What a match on each metric does and does not capture, and what differs between species.
CAVEATS = (
    "Whole-blood levels are compared one to one. Rapamycin sits mostly in red cells bound to "
    "FKBP12 (about 95 % in human blood, Yatscoff 1993); species differences in haematocrit, "
    "red-cell FKBP12 and plasma protein binding change the free drug at the same whole-blood "
    "level, and no species correction is applied.",
    "Cavg and AUC168 ignore the shape of the curve: the same weekly exposure can be flat "
    "(diet) or peaky (weekly tablets), which matters for mTORC2. Trough (Cmin) ignores peaks. "
    "mTORC1 uses the project's PD model (docs/mtorc2.md), calibrated mostly on human data, "
    "for the animal too.",
    "That lifespan benefit follows any of these metrics is a hypothesis, not a finding.",
)


def _metric(match: str) -> tuple[str, str, str]:
    key = str(match).strip().lower()
    if key not in MATCH_METRICS:
        raise PkdoseError(f"unknown metric to match {match!r}; choose one of "
                          f"{', '.join(MATCH_METRICS)}", option="match")
    return MATCH_METRICS[key]


def _on_treatment(reg: Regimen) -> tuple[Regimen, str]:
    rep = reg.on_treatment()
    return rep, ("steady state" if rep == reg else "steady state while on treatment")


def animal_exposure(regimen: Regimen | str, species: str = "mouse", subjects=None,
                    model: Model | str | None = None, with_pd: bool = True) -> pd.DataFrame:
    """Predicted exposure of an animal regimen (one row), on treatment.

    Parameters
    ----------
    regimen : Regimen or str
        E.g. ``"rapamycin 14 ppm diet"``, ``"rapamycin 2 mg/kg ip every 5 days"``.
    species : str
        ``mouse``, ``dog`` or ``marmoset``: the species' default model unless ``model``.
    subjects : mapping, optional
        Animal covariates: ``weight_kg``, ``sex``, ``food_g_day``.

    Returns
    -------
    DataFrame
        ``regimen`` (the on-treatment form), ``regimen_given``, ``species``, ``model``,
        ``basis`` and the steady-state metrics of :func:`pkdose.exposure.interval_metrics`
        (``cavg_ng_ml``, ``cmax_ng_ml``, ``cmin_ng_ml``, ``auc168_ng_h_ml``, ...), with
        ``mtorc1_mean`` and ``mtorc2_verdict`` when ``with_pd``.
    """
    reg = as_regimen(regimen)
    rep, basis = _on_treatment(reg)
    df = pd.DataFrame([_steady_row(rep, model, subjects, with_pd, species).to_dict()])
    df.insert(1, "regimen_given", str(reg))
    df["basis"] = basis
    return df


def animal_range(regimen: Regimen | str, species: str = "mouse", match: str = "cavg",
                 subjects=None, model: Model | str | None = None) -> pd.DataFrame:
    """The animal metric at the low and high end of each uncertain model parameter.

    One parameter at a time, over the model's ``[uncertainty]`` ranges (parameters only;
    ranges on derived quantities such as a half-life are skipped), so the spread shown is
    a lower bound on the joint uncertainty.

    Returns
    -------
    DataFrame
        ``parameter``, ``low``, ``high`` (the parameter range) and ``metric_low``,
        ``metric_high`` (the metric at those ends).
    """
    column, _, _ = _metric(match)
    reg = as_regimen(regimen)
    m = resolve_model(reg, model, species=species)
    rep, _ = _on_treatment(reg)
    with_pd, rows = column.startswith("mtorc"), []
    for name, spec in m.uncertainty.items():
        if name not in m.parameters:
            continue
        ends = (float(spec["low"]), float(spec["high"]))
        rows.append([name, *ends, *(float(_steady_row(rep, m.with_params(**{name: x}), subjects,
                                                      with_pd)[column]) for x in ends)])
    return pd.DataFrame(rows, columns=["parameter", "low", "high", "metric_low",
                                       "metric_high"])


#: What a translation row shows; mTOR engagement is added when matched or shown.
_ROW_METRICS = ("Cavg", "Cmax", "Cmin", "AUC168", "Tabove 3")


def _steady_row(reg: Regimen, model: Model | str | None, subjects, with_pd: bool,
                species: str | None = None) -> pd.Series:
    """Steady-state metrics over one cycle (no Rac/T90ss: they cost most of the time), on
    ``model`` or the default model of ``species`` (default human).

    Candidates beyond a model's fitted dose range are flagged in a column instead of
    warned about.
    """
    from pkdose.engine import scenario
    from pkdose.results import exposure_table

    metrics = (*_ROW_METRICS, *(("mTORC1 mean", "mTORC2 verdict") if with_pd else ()))
    scn = scenario(reg, model, subjects, species=species, warn=False)
    return exposure_table([scn], metrics).frame.iloc[0]


def _best_dose(drug: str, schedule: str, column: str, target: float, subjects,
               doses: Sequence[float]) -> tuple[float, pd.Series]:
    """The tablet dose on this schedule whose metric is closest to ``target`` (log scale).

    Every metric rises with dose, so a bisection over the sorted doses finds the bracket.
    The candidates carry mTOR engagement only when it is matched (it costs about a fifth
    more per candidate); the row returned always does.
    """
    with_pd = column.startswith("mtorc")

    @functools.cache
    def row(d: float, with_mtor: bool = with_pd) -> pd.Series:
        return _steady_row(parse_regimen(f"{drug} {d:g} mg {schedule}"), None, subjects,
                           with_mtor)

    # The first dose reaching the target (from the second to the last), and the one before.
    hi = bisect.bisect_left(doses, True, 1, len(doses) - 1,
                            key=lambda d: float(row(d)[column]) >= target)
    best = min((doses[hi - 1], doses[hi]),
               key=lambda d: abs(math.log(max(float(row(d)[column]), 1e-300) / target)))
    return best, row(best, True)


def translate(regimen: Regimen | str, species: str = "mouse", match: str = "cavg",
              subjects=None, human_subjects=None, model: Model | str | None = None,
              schedules: Sequence[str] = HUMAN_SCHEDULES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Human regimens (tablet doses, daily and intermittent) matching an animal regimen.

    Parameters
    ----------
    regimen : Regimen or str
        The animal regimen, e.g. ``"rapamycin 14 ppm diet"``.
    species : str
        Its species (default mouse).
    match : {"cavg", "auc168", "trough", "mtorc1"}
        The exposure metric matched (see :data:`MATCH_METRICS`).
    subjects, human_subjects : mapping, optional
        Covariates of the animal and of the human (default: the typical ones).
    schedules : sequence of str
        Human schedules searched (default :data:`HUMAN_SCHEDULES`).

    Returns
    -------
    (DataFrame, DataFrame)
        The animal row (:func:`animal_exposure`) and one row per schedule, best match first:
        ``regimen``, ``schedule``, ``dose_mg``, the matched metric (``human``, ``animal``,
        ``ratio`` human/animal), and the human Cavg, Cmax, Cmin, mean mTORC1 inhibition and
        mTORC2 verdict, and ``in_fitted_range`` (dose inside the human model's data).
    """
    column, label, unit = _metric(match)
    animal = animal_exposure(regimen, species, subjects, model)
    target = float(animal[column].iloc[0])
    if not (math.isfinite(target) and target > 0):
        raise PkdoseError(f"the animal regimen gives {label} = {target:g}; nothing to match")
    drug = as_regimen(regimen).drug
    doses = tablet_doses(drug, max_tablets=MAX_TABLETS)
    fitted = get_model(drug=drug).validity("dose_mg")
    rows = []
    for schedule in schedules:
        dose, r = _best_dose(drug, schedule, column, target, human_subjects, doses)
        value = float(r[column])
        rows.append({
            "regimen": r["regimen"], "schedule": schedule, "dose_mg": dose,
            "metric": label, "human": value, "animal": target, "ratio": value / target,
            **r[["cavg_ng_ml", "cmax_ng_ml", "cmin_ng_ml", "mtorc1_mean", "mtorc2_verdict",
                 "model"]].to_dict(),
            "in_fitted_range": fitted is None or fitted[0] <= dose <= fitted[1],
            "at_tablet_limit": dose in (doses[0], doses[-1]) and abs(math.log(value / target))
            > 0.1,
        })
    return animal, pd.DataFrame(rows).sort_values(
        "ratio", key=lambda r: np.abs(np.log(r)), kind="stable", ignore_index=True)


def lifespan_exposure(species: str | None = None, match: str = "cavg",
                      model: Model | str | None = None) -> pd.DataFrame:
    """Every lifespan-library regimen with its predicted exposure on its species' model.

    Parameters
    ----------
    species : str, optional
        Only this species' studies; default the whole lifespan table (each study on its
        own species' default model).
    model : Model or str, optional
        A model for ``species`` (needs ``species``).

    Returns
    -------
    DataFrame
        :func:`pkdose.references.lifespan` rows plus ``cavg_ng_ml``, ``cmax_ng_ml``,
        ``cmin_ng_ml``, ``auc168_ng_h_ml``, ``t_above_3_h_per_week``, ``window_h``,
        ``mtorc1_mean``, ``mtorc2_verdict``, ``model`` and ``predicted`` (why not, when the
        model has no such route).
    """
    from pkdose import references

    _metric(match)
    if model is not None and species is None:
        raise PkdoseError("a model for the lifespan studies needs their species",
                          option="species")
    lib = references.lifespan()
    if species is not None:
        lib = lib[lib["species"] == species].reset_index(drop=True)
    models = {sp: model if isinstance(model, Model) else
              get_model(model, drug="sirolimus", species=sp) for sp in lib["species"].unique()}
    cols = ("cavg_ng_ml", "cmax_ng_ml", "cmin_ng_ml", "auc168_ng_h_ml",
            "t_above_3_h_per_week", "window_h", "mtorc1_mean", "mtorc2_verdict")
    cache: dict[tuple[str, str, str], Mapping] = {}
    out = []
    for _, row in lib.iterrows():
        reg = parse_regimen(row["regimen"])
        m = models[row["species"]]
        rec = {**row, "model": m.name}
        missing = {b.dose.route for b in reg.blocks} - set(m.routes)
        if missing:
            out.append({**rec, **dict.fromkeys(cols, np.nan),
                        "predicted": f"no: the {m.name} model has no "
                                     f"{'/'.join(sorted(missing))} route"})
            continue
        sex = row["sex"] if row["sex"] in ("male", "female") else None
        key = (row["species"], row["regimen"], sex or "")
        if key not in cache:  # quietly: a study beyond its model's data is not the user's
            cache[key] = animal_exposure(reg, row["species"],
                                         {"sex": sex} if sex else None, m).iloc[0]
        out.append({**rec, **{c: cache[key][c] for c in cols}, "predicted": "yes"})
    # Every column even for a species without lifespan studies in the library.
    return pd.DataFrame(out, columns=[*lib.columns, *cols, "model", "predicted"])


def to_animal(regimen: Regimen | str, species: str | None = None, match: str = "cavg",
              subjects=None, model: Model | str | None = None) -> tuple[pd.DataFrame,
                                                                          pd.DataFrame]:
    """Published animal lifespan regimens closest in exposure to a human regimen.

    Parameters
    ----------
    species : str, optional
        Only this species' lifespan studies; default the whole lifespan table.

    Returns
    -------
    (DataFrame, DataFrame)
        The human row (the answer engine's steady state on treatment) and the
        library rows of :func:`lifespan_exposure` with ``ratio`` (human / animal) on the
        chosen metric, closest first; regimens the animal model cannot predict come last.
    """
    column, _, _ = _metric(match)
    reg = as_regimen(regimen)
    if any(b.dose.route in ANIMAL_ROUTES for b in reg.blocks):
        raise PkdoseError("translating from a human regimen needs an oral or iv regimen; "
                          "translate an animal regimen from its species to human instead",
                          option="species")
    from pkdose.engine import CYCLE_METRICS, scenario
    from pkdose.results import exposure_table

    rep, basis = _on_treatment(reg)
    human = exposure_table([scenario(rep, None, subjects)], CYCLE_METRICS).to_frame()
    human["basis"] = basis
    lib = lifespan_exposure(species, match, model)
    lib["ratio"] = float(human[column].iloc[0]) / lib[column]
    return human, lib.sort_values("ratio", key=lambda r: np.abs(np.log(r)), kind="stable",
                                  ignore_index=True)


def human_bands(match: str = "cavg",
                purposes: Sequence[str] = ("ageing-trial", "planned-ageing-trial")
                ) -> pd.DataFrame:
    """Human reference regimens (default: ageing trials) as ranges on an exposure metric.

    Returns
    -------
    DataFrame
        ``label`` (reference name), ``drug``, ``low`` and ``high`` (the lowest and highest
        arm, at the steady state of its repeating dose, typical subject), ``arms``.
    """
    from pkdose.comparison import reference_table
    from pkdose.engine import quantity

    column, _, _ = _metric(match)
    rows = reference_table(tuple(purposes), ("sirolimus", "everolimus"),
                           metrics=[quantity(column).name]).to_frame()
    if rows.empty:
        return pd.DataFrame(columns=["label", "drug", "low", "high", "arms"])
    label = rows["reference"].str.split("/").str[0].rename("label")
    out = rows.groupby([label, "drug"], sort=False)[column].agg(low="min", high="max",
                                                                arms="count").reset_index()
    return out[out["low"] > 0].reset_index(drop=True)
