"""pkdose: rapamycin (sirolimus) and everolimus regimens to predicted whole-blood exposure.

For research and trial design; not medical advice.

The curated API (each name is imported on first use, so ``import pkdose`` and
``pkdose --version`` stay fast)::

    import pkdose
    pkdose.simulate("sirolimus 6 mg weekly", until_h=672)            # curves
    pkdose.compare(["rapamycin 1 mg daily", "rapamycin 6 mg weekly"])  # ExposureTable
    pkdose.flag(["everolimus 5 mg weekly"])                             # mTORC2 verdicts
    pkdose.simulate_population("sirolimus 5 mg weekly", 500, "older-adults")
    pkdose.simulate("sirolimus 1 mg daily", n=10_000, seed=1, output="array")  # 10,000 curves
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pkdose")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

NOTICE = (
    "pkdose is for research and trial design only; it is not medical advice "
    "and must not be used to dose patients."
)

#: Public name -> the module that owns it.
_API = {
    # regimens and models
    "parse_regimen": "pkdose.regimen_text", "Regimen": "pkdose.regimen",
    "get_model": "pkdose.model", "builtin_models": "pkdose.model",
    # curves
    "simulate": "pkdose.simulation",
    # the answer engine and its typed results
    "scenario": "pkdose.engine", "evaluate": "pkdose.engine", "Scenario": "pkdose.engine",
    "Basis": "pkdose.engine", "QUANTITIES": "pkdose.engine",
    "ExposureTable": "pkdose.results", "parse_target": "pkdose.targets",
    "compare": "pkdose.comparison", "place": "pkdose.comparison",
    "flag": "pkdose.comparison", "parse_against": "pkdose.comparison",
    # populations, trial design, one person, animals, reports
    "simulate_population": "pkdose.population", "simulate_curves": "pkdose.population",
    "summarise": "pkdose.population",
    "simulate_observations": "pkdose.population", "find_dose": "pkdose.design",
    "therapeutic_window": "pkdose.design", "estimate": "pkdose.individual",
    "recommend": "pkdose.individual", "translate": "pkdose.translation",
    "to_animal": "pkdose.translation", "build_report": "pkdose.report",
    # errors
    "PkdoseError": "pkdose.errors", "ExtrapolationWarning": "pkdose.errors",
}

__all__ = ["NOTICE", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'pkdose' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
