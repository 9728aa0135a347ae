"""The co-medication layer: cited ratios in, CL and F factors out, applied to a model.

The simulation tests use the exact solver (no random effects) for the typical subject and
show what the factors do in the shipped models: the AUC ratio of the interaction study is
reproduced by construction, the Cmax ratio approximately (tolerances stated per test).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import trapezoid

from pkdose import interactions as ix
from pkdose import simulation as sim
from pkdose import solver
from pkdose.errors import PkdoseError
from pkdose.model import covariate_table, get_model, individual_parameters
from pkdose.regimen import compile_trains
from pkdose.regimen_text import parse_regimen

#: The ratios as the sources print them (AUC, Cmax); the data file must hold exactly these.
SOURCE_RATIOS = {
    ("everolimus", "ketoconazole"): (15.0, 3.9),     # Kovarik 2005, PMID 15831774
    ("everolimus", "erythromycin"): (4.4, 2.0),      # Kovarik 2005, PMID 15785960
    ("everolimus", "ciclosporin"): (2.68, 1.82),     # Certican SmPC: +168 %, +82 %
    ("everolimus", "rifampin"): (0.37, 0.42),        # Kovarik 2002: -63 %, -58 %
    ("sirolimus", "ketoconazole"): (11.0, 4.0),      # Rapamune label via drugs.com
    ("sirolimus", "voriconazole"): (11.0, 7.0),
    ("sirolimus", "posaconazole"): (9.0, 7.0),
    ("sirolimus", "ciclosporin"): (3.3, 2.16),       # Zimmerman 2003: +230 %, +116 %
    ("sirolimus", "rifampin"): (0.18, 0.29),         # Tortorici 2013, PMID 27128230
    ("sirolimus", "grapefruit-juice"): (4.5, None),  # Cohen 2012: +350 %
}


@pytest.mark.parametrize("row", ix.interactions(), ids=lambda r: f"{r.drug}+{r.comedication}")
def test_factors_reproduce_the_auc_ratio_by_construction(row):
    assert row.f_factor / row.cl_factor == pytest.approx(row.exposure_ratio, rel=1e-12)
    if row.method == "cmax_auc":
        assert row.f_factor == row.cmax_ratio
    elif row.method == "half_life":
        assert row.cl_factor == pytest.approx(row.t_half_h[0] / row.t_half_h[1])
    elif row.method == "bioavailability":
        assert row.cl_factor == 1.0
    elif row.method == "clearance":
        assert row.f_factor == 1.0
    else:
        assert (row.cl_factor, row.f_factor) == (1.0, 1.0)
        if row.auc_range:
            assert row.auc_range[0] <= 1.0 <= row.auc_range[1]


@pytest.mark.parametrize(("key", "ratios"), SOURCE_RATIOS.items(), ids=lambda k: str(k))
def test_data_holds_the_source_ratios(key, ratios):
    row = ix.get_interaction(*key)
    assert (row.auc_ratio, row.cmax_ratio) == ratios


def test_every_row_is_cited_and_its_range_brackets_its_ratio():
    for r in ix.interactions():
        assert any(r.source.get(k) for k in ("doi", "pmid", "label", "missing_ids")), r
        assert r.source.get("verified"), r
        for ratio, rng in ((r.auc_ratio, r.auc_range), (r.cmax_ratio, r.cmax_range)):
            if rng is not None:
                assert rng[0] <= ratio <= rng[1], (r.drug, r.comedication)


def test_rifampin_everolimus_auc_and_clf_agree():
    r = ix.get_interaction("everolimus", "rifampicin")
    assert 1 / r.clf_ratio == pytest.approx(r.auc_ratio, rel=0.01)


def test_factors_combine_multiplicatively_with_a_caveat():
    cl, f, notes = ix.interaction_factors("everolimus", ["ciclosporin", "ketoconazole"])
    a, b = ix.get_interaction("everolimus", "CsA"), ix.get_interaction("everolimus", "keto")
    assert cl == pytest.approx(a.cl_factor * b.cl_factor)
    assert f == pytest.approx(a.f_factor * b.f_factor)
    assert len(notes) == 3 and "do not multiply in reality" in notes[-1]


def test_aliases_resolve_and_repeats_count_once():
    one = ix.interaction_factors("Certican", ["ciclosporin"])
    assert ix.interaction_factors("everolimus", ["CsA", "Cyclosporine", "ciclosporin"]) == one
    assert ix.interaction_factors("rapamycin", "Grapefruit juice")[:2] == (1.0, 4.5)
    assert ix.interaction_factors("sirolimus", []) == (1.0, 1.0, [])


def test_unknown_comedication_lists_the_known_ones():
    with pytest.raises(PkdoseError, match=r"unknown co-medication 'aspirin' for everolimus; "
                                          r"known: ketoconazole, erythromycin"):
        ix.interaction_factors("everolimus", ["aspirin"])
    with pytest.raises(PkdoseError, match="no interaction data for everolimus with voriconazole"):
        ix.interaction_factors("everolimus", ["voriconazole"])


def test_list_interactions_table():
    df = ix.list_interactions("sirolimus")
    assert set(df["drug"]) == {"sirolimus"}
    assert {"comedication", "auc_ratio", "cmax_ratio", "method", "cl_factor", "f_factor",
            "citation", "doi", "pmid"} <= set(df.columns)
    assert len(ix.list_interactions()) == len(ix.interactions())


def test_apply_interactions_returns_new_arrays():
    m = get_model("dewit2016")
    p = individual_parameters(m, covariate_table(None, n=3))
    out = ix.apply_interactions(p, m, ["ketoconazole"])
    row = ix.get_interaction("everolimus", "ketoconazole")
    np.testing.assert_allclose(out["cl"], p["cl"] * row.cl_factor)
    np.testing.assert_allclose(out["f"], p["f"] * row.f_factor)
    assert out["v1"] is p["v1"] and not np.shares_memory(out["cl"], p["cl"])


def test_a_model_covariate_is_not_applied_twice():
    with pytest.raises(PkdoseError, match="terheine2018 already models prednisolone through "
                                          "the covariate prednisolone_mg_day"):
        m = get_model("terheine2018")
        ix.apply_interactions(individual_parameters(m, covariate_table(None)), m,
                              ["prednisolone"])
    m = get_model("dewit2016")  # no prednisolone covariate: the row's factor applies
    out = ix.apply_interactions(individual_parameters(m, covariate_table(None)), m,
                                ["prednisolone"])
    assert out["cl"][0] == pytest.approx(m.typical("cl") * 1.31)


def test_ter_heine_covariate_matches_the_prednisolone_row():
    # CL/F = fu*CLint in the well-stirred liver with F = 1 - EH, so the covariate's 1.31 on
    # CLint is the row's 1.31 on apparent oral clearance.
    m = get_model("terheine2018")
    base = individual_parameters(m, covariate_table(None))
    pred = individual_parameters(m, covariate_table({"prednisolone_mg_day": 20}))
    ratio = (pred["cl"] / pred["f"]) / (base["cl"] / base["f"])
    assert ratio[0] == pytest.approx(ix.get_interaction("everolimus", "prednisolone").cl_factor)


def test_bad_rows_give_one_line_errors():
    names = {"ketoconazole": {}}
    good = {"drug": "everolimus", "comedication": "ketoconazole", "method": "cmax_auc",
            "method_reason": "x", "auc_ratio": 2.0, "cmax_ratio": 1.5,
            "source": {"citation": "c", "pmid": "1"}}
    assert ix._interaction(1, good, names).cl_factor == 0.75
    cases = [
        ({"method": "guess"}, "method must be one of cmax_auc"),
        ({"cmax_ratio": -1}, "key 'cmax_ratio' must be a positive number"),
        ({"auc_range": [3]}, "key 'auc_range' must be \\[low, high\\]"),
        ({"source": {"citation": "c"}}, "needs a doi, pmid or label"),
        ({"method": "half_life"}, "method 'half_life' needs key 't_half_h'"),
        ({"comedication": "aspirin"}, "has no \\[comedication.NAME\\] table"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"method": "none", "auc_range": [1.5, 2.5]}, "AUC range excludes 1"),
    ]
    for change, msg in cases:
        with pytest.raises(PkdoseError, match=msg) as err:
            ix._interaction(3, {**good, **change}, names)
        assert "\n" not in str(err.value) and "interaction[3]" in str(err.value)


# --------------------------------------------------------------- through the solver

def _single_dose(model_name: str, text: str, names: list[str]):
    """Cmax and AUC0-inf of one dose for the typical subject, with and without names."""
    m = get_model(model_name)
    cov = covariate_table(None)
    base = individual_parameters(m, cov)
    t = np.concatenate([np.arange(0.0, 48.0, 0.01), np.arange(48.0, 6000.0, 1.0)])
    out = []
    for p in (base, ix.apply_interactions(base, m, names)):
        prep = sim.Prepared(m, cov, p, solver.build_system(p, m.n_chain))
        conc = sim.concentrations(prep, compile_trains(parse_regimen(text)), t)
        out.append({k: (float(v[0].max()), float(trapezoid(v[0], t)))
                    for k, v in conc.items()})
    return out


@pytest.mark.parametrize("model_name", ["terheine2018", "dewit2016"])
def test_ketoconazole_everolimus_2_mg_reproduces_kovarik_2005(model_name):
    """AUC ratio 15 by construction; Cmax ratio close to the observed 3.9.

    Tolerance for Cmax: within 20 % of 3.9 (3.1-4.7), about the study's 90 % CI of
    3.4-4.6 widened for the model. It shows that the ``cmax_auc`` split keeps the peak
    near the observed one; the half-life route would give about 7-9 (see the
    sensitivity check below). ter Heine 2018's whole blood is non-linear (saturable
    red-cell binding), so its whole-blood AUC ratio is 15 only to within 5 %; its plasma
    AUC ratio is exact.
    """
    base, keto = _single_dose(model_name, "everolimus 2 mg once", ["ketoconazole"])
    cmax_ratio = keto["conc_ng_ml"][0] / base["conc_ng_ml"][0]
    auc_ratio = keto["conc_ng_ml"][1] / base["conc_ng_ml"][1]
    assert cmax_ratio == pytest.approx(3.9, rel=0.20)
    if model_name == "terheine2018":
        assert keto["plasma_ng_ml"][1] / base["plasma_ng_ml"][1] == pytest.approx(15.0,
                                                                                  rel=1e-3)
        assert auc_ratio == pytest.approx(15.0, rel=0.05)
    else:
        assert auc_ratio == pytest.approx(15.0, rel=1e-3)


def test_half_life_split_would_overshoot_the_cmax_ratio():
    # Sensitivity: the alternative split (CL from the half-lives) keeps the AUC ratio but
    # puts the Cmax ratio far above the observed 3.9: why the data file uses cmax_auc.
    m = get_model("dewit2016")
    cov = covariate_table(None)
    p = individual_parameters(m, cov)
    row = ix.get_interaction("everolimus", "ketoconazole")
    cl_alt = row.t_half_h[0] / row.t_half_h[1]
    alt = dict(p, cl=p["cl"] * cl_alt, f=p["f"] * row.auc_ratio * cl_alt)
    t = np.arange(0.0, 48.0, 0.01)
    trains = compile_trains(parse_regimen("everolimus 2 mg once"))
    peaks = [sim.concentrations(sim.Prepared(m, cov, q, solver.build_system(q, m.n_chain)),
                                trains, t)["conc_ng_ml"][0].max() for q in (p, alt)]
    assert peaks[1] / peaks[0] > 6.0


def test_ketoconazole_sirolimus_auc_ratio_with_saturable_absorption():
    # Wu 2012 absorbs through Michaelis-Menten kinetics; absorption is still complete, so
    # AUC = F*dose/CL and the ratio is exact, while Cmax rises less than F (saturation).
    base, keto = _single_dose("wu2012", "sirolimus 5 mg once", ["ketoconazole"])
    assert keto["conc_ng_ml"][1] / base["conc_ng_ml"][1] == pytest.approx(11.0, rel=2e-3)
    assert 1.0 < keto["conc_ng_ml"][0] / base["conc_ng_ml"][0] <= 4.0 * 1.05
    assert not math.isnan(keto["conc_ng_ml"][0])
