"""The paediatric sirolimus model (Fan 2024) and how children on sirolimus reach it.

Source: Fan L et al. Front Pharmacol 2024;15:1457614, doi:10.3389/fphar.2024.1457614
(Table 2: CL/F 4.06 L/h and V/F 155 L at 16 kg, weight exponents 1.23 and 1.62, ka fixed
0.485 1/h; abstract: recommended starting doses for troughs of 5-15 ng/mL).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.integrate import solve_ivp

import pkdose
from pkdose.children import paediatric_model
from pkdose.cli import main
from pkdose.errors import ExtrapolationWarning, PkdoseError
from pkdose.model import covariate_table, get_model, individual_parameters

CHILD = {"age_y": 6, "weight_kg": 21, "height_cm": 116}


def _typical(weight_kg):
    m = get_model("fan2024")
    p = individual_parameters(m, covariate_table({"age_y": 6, "weight_kg": weight_kg,
                                                  "height_cm": 116}, model=m))
    return {k: float(np.asarray(v).ravel()[0]) for k, v in p.items()}


def test_typical_cl_and_v_are_the_papers_at_16_kg_and_scale_with_its_exponents():
    # Tolerance, set before comparing: 1e-12 relative (a power law evaluated in floats).
    p = _typical(16.0)
    assert p["cl"] == pytest.approx(4.06, rel=1e-12)
    assert p["v1"] == pytest.approx(155.0, rel=1e-12)
    assert p["ka"] == pytest.approx(0.485, rel=1e-12)
    p = _typical(32.0)  # twice the reference weight: 2^1.23 and 2^1.62 by hand
    assert p["cl"] == pytest.approx(4.06 * 2.3457, rel=1e-4)
    assert p["v1"] == pytest.approx(155.0 * 3.0738, rel=1e-4)


# The paper's recommended starting doses (abstract), mg/kg/day by weight band, for troughs
# of 5-15 ng/mL. Each band is checked at its two ends.
TWICE_DAILY = [((1.0, 9.99), 0.05), ((10.0, 19.99), 0.06), ((20.0, 39.99), 0.07),
               ((40.0, 65.0), 0.08)]
ONCE_DAILY = [((1.0, 9.99), 0.06), ((10.0, 29.99), 0.07), ((30.0, 49.99), 0.08),
              ((50.0, 65.0), 0.09)]


@pytest.mark.parametrize(("per_day", "bands"), [(2, TWICE_DAILY), (1, ONCE_DAILY)])
def test_recommended_doses_give_a_median_trough_within_5_to_15(per_day, bands):
    # Tolerance, set before comparing: the paper's own target band, 5-15 ng/mL. IIV is on
    # CL/F alone and the trough falls monotonically with CL/F, so the population median
    # trough is the typical subject's: the typical trough is the median the paper reports.
    freq = "twice daily" if per_day == 2 else "daily"
    for (low_kg, high_kg), mg_kg_day in bands:
        for weight in (max(low_kg, 3.3), high_kg):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExtrapolationWarning)
                t = pkdose.compare([f"sirolimus {mg_kg_day / per_day:g} mg/kg {freq}"],
                                   subjects={**CHILD, "weight_kg": weight}).to_frame()
            assert t["model"].iloc[0] == "fan2024"
            assert 5.0 <= float(t["ctrough_ng_ml"].iloc[0]) <= 15.0, (weight, mg_kg_day)


def test_child_curve_matches_a_tight_ode_solution():
    # Tolerance, set before comparing: 1e-7 relative to the peak (ODE rtol 1e-10).
    p = _typical(21.0)
    bsa = float(covariate_table(CHILD)["bsa_m2"].iloc[0])
    dose_mg = 0.8 * bsa
    times = np.arange(0.0, 14 * 24 + 0.5, 0.5)
    got = pkdose.simulate("sirolimus 0.8 mg/m2 twice daily for 14 days", subjects=CHILD,
                          times_h=times, output="array")[0]

    def rhs(_t, y):
        return [-p["ka"] * y[0], p["ka"] * y[0] - p["cl"] / p["v1"] * y[1]]

    y, want = np.array([0.0, 0.0]), np.zeros_like(times)
    for k in range(28):
        y[0] += dose_mg
        seg = (times >= 12 * k) & ((times < 12 * (k + 1)) | (k == 27))
        sol = solve_ivp(rhs, (12 * k, 12 * (k + 1) if k < 27 else times[-1]), y,
                        t_eval=times[seg], rtol=1e-10, atol=1e-14, method="LSODA")
        want[seg] = sol.y[1] / p["v1"] * 1000.0
        y = solve_ivp(rhs, (12 * k, 12 * (k + 1)), y, rtol=1e-10, atol=1e-14,
                      method="LSODA").y[:, -1]
    assert np.max(np.abs(got - want)) < 1e-7 * want.max()


def test_children_get_the_paediatric_model_only_when_every_subject_is_a_child():
    assert paediatric_model("sirolimus", CHILD) == "fan2024"
    assert paediatric_model("sirolimus", {"age_y": [6, 40]}) is None
    assert paediatric_model("sirolimus", None) is None
    assert paediatric_model("everolimus", CHILD) is None


def test_refusals_and_warnings_outside_the_source():
    with pytest.raises(PkdoseError, match=r"aged 0.05 y: fan2024 source ages 0.08-12 y"):
        pkdose.compare(["sirolimus 0.8 mg/m2 twice daily"],
                       subjects={"age_y": 0.05, "weight_kg": 4, "height_cm": 55})
    # An adult model named for a child still refuses, and says what pkdose would use.
    with pytest.raises(PkdoseError, match="wu2012 source ages 22-83 y; it was fitted to adults"):
        pkdose.compare(["sirolimus 0.8 mg/m2 twice daily"], model="wu2012", subjects=CHILD)
    with pytest.raises(PkdoseError, match=r"fan2024 is a paediatric model .* 1 of 2 subjects"):
        pkdose.compare(["sirolimus 1 mg daily"], model="fan2024",
                       subjects=pd.DataFrame({"age_y": [6.0, 40.0], "weight_kg": [21.0, 70.0],
                                              "height_cm": [116.0, 175.0]}))
    with pytest.warns(ExtrapolationWarning, match=r"age of the subject \(14 y\) lies outside "
                                                  r"the 0.08-12 y range of the fan2024"):
        pkdose.compare(["sirolimus 0.03 mg/kg twice daily"],
                       subjects={"age_y": 14, "weight_kg": 50, "height_cm": 160})
    with pytest.warns(ExtrapolationWarning, match=r"weight .* outside the 3.3-65 kg range"):
        pkdose.compare(["sirolimus 0.03 mg/kg twice daily"],
                       subjects={"age_y": 11, "weight_kg": 80, "height_cm": 160})


def test_cli_compare_gives_the_paediatric_prediction():
    res = CliRunner().invoke(main, ["compare", "sirolimus 0.8 mg/m2 twice daily",
                                    "--age", "6", "--weight", "21", "--height", "116"])
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if line.startswith("sirolimus"))
    assert "fan2024" in row
    # Cavg by hand: 0.8 mg/m2 x BSA / 12 h / CL/F(21 kg) -> 9.67 ng/mL (Mosteller BSA).
    bsa = (21 * 116 / 3600) ** 0.5
    cavg = 0.8 * bsa / 12 / (4.06 * (21 / 16) ** 1.23) * 1000
    assert f"{cavg:.3g}" in row.split()
    res = CliRunner().invoke(main, ["compare", "sirolimus 0.8 mg/m2 twice daily",
                                    "--age", "0.05", "--weight", "4", "--height", "55"])
    assert res.exit_code == 2 and "fan2024 source ages 0.08-12 y" in res.output
    assert "Traceback" not in res.output
