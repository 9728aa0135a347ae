"""Regimens side by side, and placed among the cited reference regimens.

>>> from pkdose.comparison import compare, place, parse_against        # doctest: +SKIP
>>> table = compare(["rapamycin 1 mg daily", "rapamycin 6 mg weekly"])
>>> table.to_frame()                                                  # doctest: +SKIP
>>> print(place(table, parse_against("transplant,ageing")).to_text())  # doctest: +SKIP

Both are thin clients of the answer engine (:mod:`pkdose.engine`); results are typed
(:mod:`pkdose.results`). ``compare`` and ``flag`` also run every other shipped model valid
for each regimen (:func:`alternative_scenarios`), so that structural uncertainty, the
largest here, is shown beside the default model's numbers: the model range of each metric
and each model's mTORC2 verdict.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pkdose.engine import Scenario, quantity, scenario
from pkdose.errors import ExtrapolationWarning, PkdoseError, warning_messages
from pkdose.model import Model, builtin_models, covariate_table
from pkdose.pd import Verdict
from pkdose.regimen import Regimen
from pkdose.results import TEXT_METRICS, ExposureTable, exposure_table, number
from pkdose.simulation import as_regimen, model_of_drug, params_of_drug, resolve_model

#: Virtual subjects of a comparison's population intervals unless told.
POPULATION_N = 500

__all__ = ["AGAINST_GROUPS", "Placement", "alternative_scenarios", "compare", "flag",
           "parse_against", "place", "reference_table"]


def compare(regimens: Sequence[Regimen | str], model: Model | str | None = None,
            subjects=None, params: Mapping[str, float] | None = None,
            window_h: tuple[float, float] | None = None, with_pd: bool = True,
            with_: Sequence[str] | str = (), species: str | None = None,
            metrics: Sequence[str] | None = None, spread: bool = True,
            population=None, n: int | None = None, seed: int = 1) -> ExposureTable:
    """Exposure of several regimens for the same subjects: one row per regimen and subject.

    Parameters
    ----------
    regimens : sequence of Regimen or str
    model : Model, name, path or None
        Used for the regimens of its drug; the others get their drug's default model (of
        ``species``, default human).
    subjects : mapping, DataFrame or None
        One subject (mapping), several (DataFrame rows) or the typical subject.
    params : typical-value overrides applied to every model used.
    window_h : (start, end), optional
        Summarise these hours after the first dose, mTOR verdict included; default a
        steady-state cycle for regimens that go on, the first week for those that stop
        (their verdict over their last week).
    with_pd : bool
        Include mTOR engagement and the mTORC2 verdict (``metrics`` overrides).
    with_ : co-medications (``pkdose.interactions``).
    metrics : registry names (``pkdose.engine.QUANTITIES``); default everything
        but the reasons.
    spread : bool
        Also evaluate every other shipped model valid for each regimen
        (:func:`alternative_scenarios`, one engine call each) and give the model range:
        ``<column>_model_low``/``_model_high``, ``range_models``,
        ``mtorc2_verdict_by_model`` and ``mtorc2_models_disagree`` columns, every model's
        rows in ``to_frame(models=True)``.
    population : str, Population, DataFrame or None
    n : int, optional
        With either, also evaluate each regimen (own model) in ``n`` (default
        :data:`POPULATION_N`) virtual subjects of ``population``
        (``pkdose.population.load_population``; None: the typical subject with the
        model's variability; ``seed`` as in ``simulate_population``) and give, beside each
        row, the 5-95 % interval of every metric and the share of subjects per mTORC2
        verdict (``<column>_pop_p5``, ``<column>_pop_p95``, ``mtorc2_<verdict>_fraction``).
    """
    from pkdose.engine import DEFAULT_METRICS, QUANTITIES

    if metrics is None and not with_pd:
        metrics = [k for k in DEFAULT_METRICS if not QUANTITIES[k].is_pd]
    scns = _scenarios(regimens, model, subjects, params, with_, species)
    alternatives = [alternative_scenarios(s) for s in scns] if spread else None
    pops, name = None, ""
    if population is not None or n is not None:
        from pkdose.population import load_population, population_scenario

        pop = load_population(population)
        size = POPULATION_N if n is None else n  # n=0 is refused, not read as the default
        pops = [population_scenario(s.regimen, s.model, pop, size, seed, s.comedication)
                for s in scns]
        name = pop.name
    return exposure_table(scns, metrics, window_h, alternatives=alternatives,
                          populations=pops, population_name=name)


def alternative_scenarios(scn: Scenario) -> list[Scenario]:
    """The scenario's regimen, subjects and co-medications under every other shipped model
    valid for it, in shipped order.

    Valid means: a shipped model of the same drug and species that can take the regimen's
    routes and its co-medications. A dose or covariate outside the range a model was
    fitted to does not exclude it (the range is the structural uncertainty, and the fitted
    ranges are narrow: no everolimus model was fitted to weekly doses above 10 mg); the
    models so used are named in one ExtrapolationWarning per regimen, the scenario's own
    model keeping its own warning. Each model runs at its published parameters:
    typical-value overrides name one model's parameters and stay with the scenario's own
    model. New shipped models join automatically.
    """
    out, outside = [], []
    for m in builtin_models(species=scn.model.species).values():
        if m.drug != scn.regimen.drug or m.name == scn.model.name:
            continue
        try:
            with warning_messages() as messages:
                out.append(scenario(scn.regimen, m, scn.prep.cov, with_=scn.comedication))
        except PkdoseError:
            continue  # the model cannot take this route or co-medication: not valid here
        # Messages about the model's data name the model; the others (a dose resolved
        # with the default body size) are the regimen's, and pass through unchanged.
        for text in messages:
            if m.name not in text:
                warnings.warn(text, ExtrapolationWarning, stacklevel=2)
        if any(m.name in text for text in messages):
            outside.append(m.name)
    if outside:
        many = len(outside) > 1
        warnings.warn(f"the model range of {scn.label} includes {', '.join(outside)} outside "
                      f"the data {'they were' if many else 'it was'} fitted to (dose, body "
                      "size or covariates; extrapolated); pkdose models lists the fitted "
                      "ranges", ExtrapolationWarning, stacklevel=2)
    return out


def _scenarios(regimens, model, subjects, params, with_, species) -> list:
    """One scenario per regimen: ``model`` and its ``params`` for the regimens of its drug,
    the drug's default model (of ``species``) as published for the others."""
    regs = [as_regimen(r) for r in regimens]
    if model is not None and regs and not any(model_of_drug(model, reg) for reg in regs):
        resolve_model(regs[0], model)  # refuses it: a model of no regimen's drug did nothing
    return [scenario(reg, model_of_drug(model, reg), subjects,
                     params=params_of_drug(model, params, reg), with_=with_, species=species)
            for reg in regs]


def flag(regimens: Sequence[Regimen | str], model: Model | str | None = None, subjects=None,
         params: Mapping[str, float] | None = None, with_: Sequence[str] | str = (),
         species: str | None = None, window_h: tuple[float, float] | None = None,
         pd_params=None, spread: bool = True) -> list[Verdict]:
    """The mTORC2 verdict of each regimen, with its reasons: one per regimen and subject.

    Regimens that go on are judged over one steady-state cycle, those that stop over their
    last week, a window as given (see :func:`compare` for the other parameters). Humans
    are judged at every turnover half-life of the prior (equivocal when they disagree);
    animals at their species' turnover. With ``spread`` every other shipped model valid
    for the regimen (:func:`alternative_scenarios`) gives its verdict too
    (``Verdict.pk_model_labels``), and a reason says whether they agree; the label stays
    the one of the regimen's own model.
    """
    from pkdose.engine import basis_for, evaluate, verdicts

    column = "mtorc2_verdict"
    out = []
    for scn in _scenarios(regimens, model, subjects, params, with_, species):
        basis = basis_for(scn.regimen, window_h)
        own = verdicts(scn, basis, pd_params)
        others = alternative_scenarios(scn) if spread else []
        labels = {alt.model.name: evaluate(alt, [column], basis, pd_params=pd_params)[column]
                  for alt in others}
        out += [v.with_pk_models({scn.model.name: v.label,
                                  **{name: str(lab[i]) for name, lab in labels.items()}})
                if labels else v for i, v in enumerate(own)]
    return out


#: Reference groups and the reference purposes they cover.
AGAINST_GROUPS = {
    "transplant": ("transplant",),
    "oncology": ("oncology",),
    "tsc": ("tsc",),
    "lam": ("lam",),
    "ageing": ("ageing-trial", "planned-ageing-trial"),
    "all": ("transplant", "oncology", "tsc", "lam", "ageing-trial", "planned-ageing-trial"),
}
#: Metrics a regimen is compared with a reference on (ratio regimen / reference).
RATIO_METRICS = ("AUC168", "Cavg", "Cmax", "Ctrough")
_TARGETS_FRAME = ["regimen", "ctrough_ng_ml", "reference", "kind", "low_ng_ml", "high_ng_ml",
                  "position", "applies_to"]


def parse_against(text: str | Sequence[str]) -> tuple[str, ...]:
    """'transplant,ageing' -> the reference purposes those groups cover."""
    items = text.split(",") if isinstance(text, str) else list(text)
    purposes: list[str] = []
    for item in (i.strip().lower() for i in items if i.strip()):
        if item not in AGAINST_GROUPS:
            raise PkdoseError(f"unknown reference group {item!r}; choose from "
                              f"{', '.join(AGAINST_GROUPS)}")
        purposes += [p for p in AGAINST_GROUPS[item] if p not in purposes]
    if not purposes:
        raise PkdoseError("name at least one reference group, e.g. transplant,ageing")
    return tuple(purposes)


def reference_table(purposes: Sequence[str], drugs: Sequence[str], subjects=None,
                    metrics: Sequence[str] | None = None) -> ExposureTable:
    """Exposure of every systemic human reference regimen (each trial arm) of these
    purposes and drugs, with ``reference`` and ``purpose`` columns.

    Trials of fixed length are compared at the steady state of their repeating dose (the
    exposure while on treatment); each runs with its own co-medication and the drug's
    default model. Their extrapolation warnings are folded into one ExtrapolationWarning
    that names them: they are the published regimens, and one warning each would bury the
    user's own.
    """
    from pkdose import references

    refs = [r for p in purposes for r in references.regimens(purpose=p)
            if r.drug in drugs and r.systemic and r.species == "human"]
    cov = covariate_table(subjects)  # once: every reference runs on the same people
    scns, outside = [], []
    for r in refs:
        with warning_messages() as messages:
            scns.append(scenario(r.regimen.on_treatment(), None, cov, with_=r.comedication))
        if messages:
            outside.append(r.name)
    if outside:
        warnings.warn(_outside_data_note(outside), ExtrapolationWarning, stacklevel=2)
    return exposure_table(scns, metrics or TEXT_METRICS, None,
                          [{"reference": r.name, "purpose": r.purpose} for r in refs])


def _outside_data_note(names: Sequence[str]) -> str:
    """One line for the reference regimens (trial arms ``study/arm``) outside their model's
    data, the arms of one study counted together."""
    arms: dict[str, list[str]] = {}
    for name in names:
        arms.setdefault(name.split("/")[0], []).append(name)
    shown = [group[0] if len(group) == 1 else f"{study} ({len(group)} arms)"
             for study, group in arms.items()]
    many = len(names) > 1
    return (f"{len(names)} reference regimen{'s lie' if many else ' lies'} outside "
            f"{'their' if many else 'its'} model's data (dose, body size or covariates; "
            f"{'their' if many else 'its'} exposure is extrapolated): {', '.join(shown)}; "
            "see pkdose references show NAME")


@dataclass(frozen=True)
class Placement:
    """Regimens placed among reference regimens.

    Attributes
    ----------
    references : ExposureTable
        The reference rows (``reference`` and ``purpose`` columns first).
    ratios : DataFrame
        One row per (regimen, same-drug reference): regimen / reference ratios of AUC168,
        Cavg, Cmax and Ctrough, and their root-mean-square log ratio ``log_distance``.
    nearest : DataFrame
        Per regimen the reference closest in exposure (smallest log distance).
    targets : DataFrame
        Each regimen's Ctrough against every trough target of the chosen references of
        its drug: ``position`` below, within or above.
    """

    references: ExposureTable
    ratios: pd.DataFrame
    nearest: pd.DataFrame
    targets: pd.DataFrame

    def targets_of(self, regimen: str) -> pd.DataFrame:
        """The trough-target rows of one regimen."""
        return self.targets[self.targets["regimen"] == regimen]

    def nearest_of(self, regimen: str) -> dict[str, object]:
        """One regimen's nearest reference, its distance and ratios by column name
        (``nearest_reference``, ``nearest_auc168_ratio``, ...); empty without one."""
        hit = self.nearest[self.nearest["regimen"] == regimen]
        if hit.empty:
            return {}
        n = hit.iloc[0]
        return {"nearest_reference": n["reference"],
                "nearest_reference_regimen": n["reference_regimen"],
                "nearest_log_distance": n["log_distance"],
                **{f"nearest_{m.lower()}_ratio": n[f"{m}_ratio"] for m in RATIO_METRICS}}

    def bands(self, regimen: str | None = None) -> list[tuple[str, float, float]]:
        """Target ranges (not one-sided signal lines) as figure bands: label, low, high
        (of one regimen's drug, or of all)."""
        tg = self.targets if regimen is None else self.targets_of(regimen)
        out = [(f"{t['reference']} {t['low_ng_ml']:g}-{t['high_ng_ml']:g}",
                float(t["low_ng_ml"]), float(t["high_ng_ml"]))
               for _, t in tg.iterrows() if t["kind"] != "signal"]
        return list(dict.fromkeys(out))

    def lines(self, regimen: str) -> list[str]:
        """What the placement says of one regimen: its nearest reference with the ratios,
        then where its trough sits against each target."""
        near = self.nearest_of(regimen)
        if not near:
            return []
        ratios = ", ".join(f"{m} x{number(near[f'nearest_{m.lower()}_ratio'], '.2g')}"
                           for m in RATIO_METRICS)
        out = [f"nearest reference by exposure is {near['nearest_reference']} "
               f"({near['nearest_reference_regimen']}): {ratios}"]
        for _, t in self.targets_of(regimen).iterrows():
            trough = number(t["ctrough_ng_ml"], ".2g", "ng/mL")
            if t["kind"] == "signal":
                rel = "above" if t["position"] != "below" else "below"
                out.append(f"trough {trough} is {rel} the {t['low_ng_ml']:g} ng/mL signal of "
                           f"{t['reference']}")
            else:
                out.append(f"trough {trough} is {t['position']} {t['low_ng_ml']:g}-"
                           f"{t['high_ng_ml']:g} ng/mL ({t['reference']}: {t['applies_to']})")
        return out

    def to_dict(self) -> dict:
        """JSON-ready: references, ratios, nearest and targets as lists of records."""
        return {"references": self.references.records(),
                **{k: ExposureTable(getattr(self, k)).records()
                   for k in ("ratios", "nearest", "targets")}}

    def to_text(self) -> str:
        """The reference rows, then each regimen's nearest reference and trough position."""
        refs = self.references.frame
        if refs.empty:
            return ("\nno systemic human reference regimen of this drug in the chosen "
                    "groups\n")
        text = ("\nreference regimens (steady state of the repeating dose, default model, "
                "with their co-medication):\n"
                + self.references.to_text(prefixes=list(refs["reference"]), legend=False))
        for regimen in self.nearest["regimen"]:
            first, *rest = self.lines(regimen)
            text += f"\n{regimen}: {first}\n" + "".join(f"  {line}\n" for line in rest)
        if self.nearest.empty:
            text += "\nno reference of the same drug to compare with\n"
        return text


def place(table: ExposureTable, purposes: Sequence[str], subjects=None) -> Placement:
    """Place regimens (a :func:`compare` table) among the references of these purposes.

    Only human rows are placed: an animal regimen's blood level is not a dose to compare
    with a human trial's (``pkdose translate`` matches species). One subject: ``table``'s
    and ``subjects`` (the references are simulated in them).
    """
    from pkdose import references

    if table.frame["id"].nunique() > 1 or len(covariate_table(subjects)) > 1:
        # Each subject's ratios are to the references in that same subject.
        raise PkdoseError("regimens are placed among the references one subject at a time; "
                          "place each subject's table on its own", option="subjects")
    # A regimen given twice is one regimen to place (its targets once, not twice).
    user = table.frame[table.frame["species"] == "human"].drop_duplicates("regimen")
    refs = reference_table(purposes, sorted(set(user["drug"])), subjects).frame
    cols = [quantity(m).column for m in RATIO_METRICS]
    # Every (regimen, same-drug reference) pair, regimen by regimen, references in order.
    # (A table without references has no reference and purpose columns.)
    pairs = user[["regimen", "comedication", "drug", *cols]].merge(
        refs.reindex(columns=["reference", "purpose", "regimen", "drug", *cols]), on="drug",
        suffixes=("", "_ref"))
    mine, theirs = pairs[cols].to_numpy(float), pairs[[f"{c}_ref" for c in cols]].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(theirs > 0, mine / theirs, np.inf)
        # The distance is over the ratios that have a logarithm; none: infinitely far.
        has_log = np.isfinite(ratio) & (ratio > 0)
        squares = np.where(has_log, np.log(np.where(has_log, ratio, 1.0)) ** 2, 0.0)
        distance = np.sqrt(squares.sum(axis=1) / has_log.sum(axis=1))
    ratios = pd.DataFrame({
        "regimen": pairs["regimen"], "comedication": pairs["comedication"],
        "reference": pairs["reference"], "purpose": pairs["purpose"],
        "reference_regimen": pairs["regimen_ref"],
        **{f"{m}_ratio": ratio[:, k] for k, m in enumerate(RATIO_METRICS)},
        "log_distance": np.where(has_log.any(axis=1), distance, np.inf)})
    nearest = (ratios.loc[ratios.groupby("regimen", sort=False)["log_distance"].idxmin()]
               .reset_index(drop=True) if len(ratios) else ratios)
    tg = references.targets()
    tg = tg[tg["purpose"].isin(purposes) & (tg["metric"] == "ctrough")]
    hits = user[["regimen", "drug", "ctrough_ng_ml"]].merge(tg, on="drug")
    trough = hits["ctrough_ng_ml"].astype(float)
    hits["position"] = np.where(trough < hits["low"], "below",
                                np.where(trough > hits["high"].fillna(np.inf), "above", "within"))
    targets = hits.assign(ctrough_ng_ml=trough).rename(
        columns={"low": "low_ng_ml", "high": "high_ng_ml"})[_TARGETS_FRAME]
    return Placement(ExposureTable(refs), ratios, nearest, targets)
