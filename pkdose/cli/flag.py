"""pkdose flag: the mTORC2 verdict of each regimen, with its reasons."""

from __future__ import annotations

import click

from pkdose.cli.options import json_option, model_options, parse_params, subject_from_options
from pkdose.cli.output import Outputs, notice, write


@click.command()
@click.argument("regimens", nargs=-1, required=True)
@json_option("the verdicts, reasons and numbers")
@model_options
def flag(regimens, json_path, species, model_name, param, weight, height, sex, age, hct,
         covariate, with_):
    """mTORC2 verdict (spared / equivocal / inhibited) with its reasons, per regimen.

    The verdict comes from a turnover model of assembled mTORC2 calibrated to labelled
    regimens (docs/mtorc2.md), checked against simple threshold rules; the last reason says
    whether every shipped PK model valid for the regimen gives the same verdict. It is a
    research hypothesis, not a clinical prediction.

    \b
    Example:
      pkdose flag "sirolimus 1 mg daily" "sirolimus 6 mg weekly" "everolimus 5 mg weekly"
    """
    from pkdose.comparison import flag as judge
    from pkdose.results import json_text
    from pkdose.simulation import load_regimens

    notice()
    out = Outputs({"--json": json_path})
    regs = [reg for r in regimens for reg in load_regimens(r)]
    subj = subject_from_options(weight, height, sex, age, hct, covariate)
    verdicts = judge(regs, model_name, subj, parse_params(param), with_, species)
    for v in verdicts:
        out.text(v.to_text())
    if json_path:
        write(json_text(regimens=[v.to_dict() for v in verdicts]), json_path)
