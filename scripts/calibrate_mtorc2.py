"""Fit the mTORC2 model to the labelled regimens and store the result.

Run from the repository root:  python scripts/calibrate_mtorc2.py [--check]

Writes the [fitted] table of pkdose/data/mtor_pd.toml (the parameters users get) and prints
the calibration table. With --check, exits 1 if the stored values differ from a new fit.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pkdose._docgen import sync_doc
from pkdose.dev.pd_calibration import FREE, fit, score

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "pkdose" / "data" / "mtor_pd.toml"
PROCEDURE = (
    "IC50_2 and Imax_2 fitted by maximising the confidence-weighted ordinal likelihood of the "
    "labels in pkdose/data/mtorc2_calibration.toml (logistic at the 0.70 and 0.80 mean-M2 lines, "
    "scale 0.025; human rows averaged over turnover half-lives 48, 96 and 168 h): 25x25 grid "
    "over the plausible ranges (IC50_2 2-10 ng/mL, Imax_2 0.5-0.8), then Nelder-Mead. Other "
    "parameters fixed at the proposal. Mouse rows run on the mouse model (i.p. on its ip "
    "route); cell-line rows are not used."
)


def render(result) -> str:
    s = score(result.table)
    lines = ["[fitted]", "# Written by scripts/calibrate_mtorc2.py; do not edit by hand."]
    for key in FREE:
        lines.append(f"{key} = {getattr(result.params, key)!r}")
    lines += [
        f"objective = {result.objective:.6f}",
        f"objective_proposed = {result.objective_proposed:.6f}",
        f"rows_right = {s['right']}",
        f"rows_simulated = {s['simulated']}",
        f"score_unweighted = {s['unweighted']:.4f}",
        f"score_weighted = {s['weighted']:.4f}",
        f'procedure = "{PROCEDURE}"',
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    result = fit()
    block = render(result)
    text = DATA.read_text(encoding="utf-8")
    if re.search(r"^\[fitted\]$", text, flags=re.M):
        new = re.sub(r"^\[fitted\]\n.*?(?=\n\[|\Z)", block.rstrip("\n"), text,
                     flags=re.S | re.M)
    else:
        new = text.rstrip("\n") + "\n\n" + block
    print(result.table.to_string(index=False))
    print(score(result.table))
    return sync_doc(DATA, new, "--check" in argv, "scripts/calibrate_mtorc2.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
