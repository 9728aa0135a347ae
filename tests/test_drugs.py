"""Drug names and marketed tablet strengths (pkdose.drugs, pkdose/data/drugs.toml)."""

import pytest

from pkdose.drugs import get_drug, nearest_tablet_dose, resolve_drug, tablet_doses
from pkdose.errors import PkdoseError


def test_aliases_resolve_to_the_canonical_name():
    assert resolve_drug("Rapamycin") == "sirolimus"
    assert resolve_drug("  rad001 ") == "everolimus"


def test_unknown_drug_names_the_known_ones():
    with pytest.raises(PkdoseError, match="unknown drug 'tacrolimus'.*sirolimus"):
        resolve_drug("tacrolimus")


def test_tablet_strengths_are_the_labelled_ones_with_their_source():
    assert get_drug("sirolimus").tablet_strengths_mg == (0.5, 1.0, 2.0)
    assert get_drug("everolimus").tablet_strengths_mg == (0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                                                           7.5, 10.0)
    for name in ("sirolimus", "everolimus"):
        assert "label" in get_drug(name).tablets_source


def test_tablet_doses_are_sums_of_up_to_n_tablets():
    assert tablet_doses("rapamycin", max_tablets=1) == (0.5, 1.0, 2.0)
    assert tablet_doses("rapamycin", max_tablets=2) == (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
    assert max(tablet_doses("sirolimus", max_tablets=3)) == 6.0
    assert tablet_doses("everolimus", max_tablets=2, max_mg=1.0) == (0.25, 0.5, 0.75, 1.0)


def test_nearest_tablet_dose_rounds_on_a_log_scale():
    assert nearest_tablet_dose("sirolimus", 6.3) == 6.5
    assert nearest_tablet_dose("sirolimus", 0.1) == 0.5
    # 0.75 is exactly between 0.5 and 1 on a linear scale but closer to 1 on a log scale
    assert nearest_tablet_dose("sirolimus", 0.75, max_tablets=1) == 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_nearest_tablet_dose_rejects_non_positive_doses(bad):
    with pytest.raises(PkdoseError, match="positive"):
        nearest_tablet_dose("sirolimus", bad)


def test_max_tablets_must_be_a_whole_number():
    with pytest.raises(PkdoseError, match="max_tablets"):
        tablet_doses("sirolimus", max_tablets=0)
