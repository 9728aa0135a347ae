"""pkdose: rapamycin (sirolimus) and everolimus regimens to predicted whole-blood exposure.

For research and trial design; not medical advice.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pkdose")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

NOTICE = (
    "pkdose is for research and trial design only; it is not medical advice "
    "and must not be used to dose patients."
)
