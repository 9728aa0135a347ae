"""Development tools: the mTORC2 calibration and the validation report generator.

Run by ``scripts/``, the tests and ``pkdose validate``; the answer engine and the
commands that predict exposure never import them.
"""
