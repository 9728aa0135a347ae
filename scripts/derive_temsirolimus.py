"""Derive the temsirolimus -> sirolimus model (pkdose/models/torisel2007_temsirolimus.toml)
from the Torisel label's single-dose numbers, and print the parameter values.

Parent (temsirolimus, whole blood, two compartments, 30-min infusion of 25 mg): four label
numbers fix four parameters. CL = dose / AUC; V1, Q and V2 solve, together, Cmax at the
end of the infusion = 585 ng/mL, terminal half-life = 17.3 h and Vss = V1 + V2 = 172 L.

Metabolite (sirolimus, whole blood, one compartment): only its volume relative to the
fraction formed is identifiable from concentrations, so the fraction is set to 1 and
CL_m, V_m are apparent (divided by it). AUC_sirolimus = 2.7 x AUC_temsirolimus gives
CL_m = (M_sirolimus / M_temsirolimus) x dose / AUC_sirolimus, and its half-life 54.6 h
(slower than the parent's 17.3 h, so it is the terminal one) gives V_m = CL_m t1/2 / ln 2.

Run: ``python scripts/derive_temsirolimus.py``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import fsolve

from pkdose import metabolite
from pkdose.regimen import DoseTrain

DOSE_MG = 25.0
INFUSION_H = 0.5
AUC_NG_H_ML = 1627.0
CMAX_NG_ML = 585.0
T_HALF_H = 17.3
VSS_L = 172.0
AUC_RATIO = 2.7
T_HALF_M_H = 54.6
M_PARENT, M_METABOLITE = 1030.30, 914.2


def parent_cmax(cl: float, v1: float, q: float, v2: float) -> float:
    """Parent whole-blood concentration (ng/mL) at the end of the infusion."""
    p = {k: np.array([v]) for k, v in
         dict(cl=cl, v1=v1, q=q, v2=v2, cl_m=1.0, v_m=1.0).items()}
    ch = metabolite.build_chain(p, 1.0)
    train = DoseTrain(0.0, 0.0, 1, DOSE_MG, "mg", "infusion", INFUSION_H)
    amt, _ = metabolite.train_amounts(ch, train, np.array([DOSE_MG]),
                                      np.array([INFUSION_H]), INFUSION_H)
    return float(amt[0, 0]) * 1000.0 / v1


def derive() -> dict[str, float]:
    """The model's typical values (L/h, L) from the label numbers."""
    cl = DOSE_MG * 1000.0 / AUC_NG_H_ML
    lam_z = math.log(2.0) / T_HALF_H

    def equations(x):
        v1, q, v2 = np.exp(x)
        k10, k12, k21 = cl / v1, q / v1, q / v2
        s = k10 + k12 + k21
        lam2 = k10 * k21 / (0.5 * (s + math.sqrt((k10 + k12 - k21) ** 2 + 4 * k12 * k21)))
        return [math.log(parent_cmax(cl, v1, q, v2) / CMAX_NG_ML), math.log(lam2 / lam_z),
                math.log((v1 + v2) / VSS_L)]

    v1, q, v2 = np.exp(fsolve(equations, np.log([30.0, 20.0, 140.0]), xtol=1e-13))
    cl_m = M_METABOLITE / M_PARENT * DOSE_MG * 1000.0 / (AUC_RATIO * AUC_NG_H_ML)
    return {"cl": cl, "v1": v1, "q": q, "v2": v2, "cl_m": cl_m,
            "v_m": cl_m * T_HALF_M_H / math.log(2.0)}


if __name__ == "__main__":
    for key, value in derive().items():
        print(f"{key} = {value:.5g}")
