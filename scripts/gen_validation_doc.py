"""Generate docs/validation.md (pkdose.dev.validation_report.render).

Usage: python scripts/gen_validation_doc.py [--check]

The whole file is generated: edit the prose in ``pkdose/dev/validation_report.py``, the
observations in ``pkdose/data/observations.toml`` and the reference library in
``regimens/*.toml``. ``--check`` exits with status 1 instead of writing if the file is stale
(tests/test_validation.py runs it). ``pkdose validate`` does the same from the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pkdose._docgen import sync_doc
from pkdose.dev.validation_report import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "validation.md"


def main(argv: list[str]) -> int:
    return sync_doc(DOC, render(), "--check" in argv, "scripts/gen_validation_doc.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
