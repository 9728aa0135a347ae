"""Cross-species matching: animal exposure, human tablet regimens, the lifespan library."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pkdose import references
from pkdose.drugs import tablet_doses
from pkdose.errors import PkdoseError
from pkdose.model import get_model
from pkdose.translation import (
    animal_exposure,
    animal_range,
    lifespan_exposure,
    to_animal,
    translate,
)
from tests.conftest import exposure_row

#: Livi 2013 (Aging 5:100, Fig 1 legend): "about 4 ng/ml" whole blood on the 14 ppm ITP
#: diet; read as 3.5-4.5 ng/mL, the reading the mouse model's [uncertainty] uses.
LIVI_14PPM_NG_ML = (3.5, 4.5)


def test_mouse_blood_level_on_14_ppm_is_within_the_published_range():
    row = exposure_row("rapamycin 14 ppm diet", species="mouse")
    assert LIVI_14PPM_NG_ML[0] <= row["cavg_ng_ml"] <= LIVI_14PPM_NG_ML[1]
    # Nocturnal feeding makes the day's curve swing, but not beyond the published reading.
    assert LIVI_14PPM_NG_ML[0] - 0.5 < row["cmin_ng_ml"] < row["cmax_ng_ml"] < 5.0


def test_finite_animal_regimens_are_compared_while_on_treatment():
    ninety = animal_exposure("rapamycin 126 ppm diet for 90 days", with_pd=False).iloc[0]
    endless = animal_exposure("rapamycin 126 ppm diet", with_pd=False).iloc[0]
    assert ninety["basis"] == "steady state while on treatment"
    assert ninety["cavg_ng_ml"] == pytest.approx(endless["cavg_ng_ml"], rel=1e-12)


def test_diet_cavg_is_proportional_to_ppm_in_the_linear_mouse_model():
    c = [animal_exposure(f"rapamycin {p} ppm diet", with_pd=False)["cavg_ng_ml"].iloc[0]
         for p in (14, 42)]
    assert c[1] / c[0] == pytest.approx(3.0, rel=1e-9)


def test_a_model_object_of_another_species_is_refused_as_its_name_is():
    # A dog model object for a mouse regimen gave the dog's exposure under "mouse"; the
    # same model by name was refused. Both are now.
    for model in ("dog_oral", get_model("dog_oral")):
        with pytest.raises(PkdoseError, match="dog model, not mouse"):
            animal_exposure("rapamycin 1 mg/kg oral daily", "mouse", model=model)
        with pytest.raises(PkdoseError, match="dog model, not mouse"):
            animal_range("rapamycin 1 mg/kg oral daily", "mouse", model=model)

def test_translate_finds_the_tablet_dose_closest_in_cavg():
    animal, human = translate("rapamycin 14 ppm diet", schedules=("daily",))
    target = animal["cavg_ng_ml"].iloc[0]
    best = human.iloc[0]
    assert best["dose_mg"] in tablet_doses("sirolimus", max_tablets=8)
    # The neighbouring tablet doses are no closer (Cavg is linear in dose here).
    per_mg = best["human"] / best["dose_mg"]
    others = [d for d in tablet_doses("sirolimus", max_tablets=8) if d != best["dose_mg"]]
    assert all(abs(math.log(d * per_mg / target)) >= abs(math.log(best["ratio"])) - 1e-9
               for d in others)


def test_uncertainty_range_brackets_the_typical_prediction():
    spread = animal_range("rapamycin 2 mg/kg ip every 5 days")
    typical = animal_exposure("rapamycin 2 mg/kg ip every 5 days", with_pd=False)
    c = typical["cavg_ng_ml"].iloc[0]
    f_ip = spread.set_index("parameter").loc["f_ip"]
    # Cavg is proportional to the bioavailable dose: f_ip 1-25 around the model's 5.
    assert f_ip["metric_low"] == pytest.approx(c / 5, rel=1e-9)
    assert f_ip["metric_high"] == pytest.approx(c * 5, rel=1e-9)


@pytest.fixture(scope="module")
def library():
    return lifespan_exposure()


def test_lifespan_library_rows_are_cited_mouse_studies_and_predicted_where_possible(library):
    lib = library
    assert set(lib["species"]) == {"mouse"}
    assert {"harrison2009", "miller2014/ppm-42", "strong2020/alternate-months",
            "arriolaapelo2016", "bitto2016/ip-8mgkg"} <= set(lib["name"])
    # Every mouse route of the library (diet, ip, sc) is a route of the mouse model.
    assert (lib["predicted"] == "yes").all()
    assert lib["cavg_ng_ml"].gt(0).all()
    for name in set(lib["reference"]):
        assert references.get(name).citation


def test_anisimov2011_sc_is_predicted_with_cavg_proportional_to_f_sc(library):
    row = library.set_index("name").loc["anisimov2011"]
    assert row["route"] == "sc" and row["predicted"] == "yes"
    m = get_model(drug="sirolimus", species="mouse")
    # Six 1.5 mg/kg doses to a 30 g mouse per 730.5 h month, times f_sc, over CL/F_diet.
    expected = m.typical("f_sc") * 6 * 1.5 * 0.03 / m.typical("cl") / 730.5 * 1000
    assert row["cavg_ng_ml"] == pytest.approx(expected, rel=1e-3)
    spread = animal_range(row["regimen"]).set_index("parameter").loc["f_sc"]
    assert spread["metric_low"] == pytest.approx(row["cavg_ng_ml"] / 5, rel=1e-3)
    assert spread["metric_high"] == pytest.approx(row["cavg_ng_ml"] * 5, rel=1e-3)


def test_every_other_month_averages_about_half_the_continuous_diet(library):
    lib = library.set_index("name")
    cont = lib.loc["strong2020/continuous", "cavg_ng_ml"].iloc[0]
    alt = lib.loc["strong2020/alternate-months", "cavg_ng_ml"].iloc[0]
    # 31 diet days in each 60.9-day cycle (the 'on' month holds 30.4 days).
    assert alt / cont == pytest.approx(31 / 60.875, rel=0.01)


def test_reverse_ranks_lifespan_regimens_by_closeness():
    human, lib = to_animal("sirolimus 1 mg daily")
    ratios = lib["ratio"].dropna().map(lambda r: abs(math.log(r))).tolist()
    assert ratios == sorted(ratios)
    with pytest.raises(PkdoseError, match="needs an oral or iv regimen"):
        to_animal("rapamycin 14 ppm diet")


def test_reverse_searches_the_whole_lifespan_table(library):
    """Every lifespan row of every species is predicted and ranked, the new studies too."""
    assert len(library) == len(references.lifespan())
    assert {"neff2013", "zhang2014", "fok2014", "fang2013", "ferrararomeo2020",
            "shindyapina2022", "strong2016", "strong2022"} <= set(library["reference"])
    assert {"aiello2022/pnd4-40", "aiello2022/pnd30-60"} <= set(library["name"])
    # A combination says what it combines; rapamycin alone says nothing.
    combos = library[library["combined_with"] != ""]
    assert set(combos["reference"]) == {"strong2016", "strong2022"}
    with pytest.raises(PkdoseError, match="needs their species"):
        lifespan_exposure(model="mouse-diet")


def test_unknown_match_metric_is_a_one_line_error():
    with pytest.raises(PkdoseError, match="unknown metric to match"):
        translate("rapamycin 14 ppm diet", match="cmax")


def test_species_doc_headline_is_what_pkdose_computes():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "species.md").read_text()
    cavg = animal_exposure("rapamycin 14 ppm diet", with_pd=False)["cavg_ng_ml"].iloc[0]
    assert f"| rapamycin 14 ppm diet | {cavg:.3g} |" in doc
