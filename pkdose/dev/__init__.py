"""Development tools: the mTORC2 calibration, the validation report, time-course scoring.

Run by ``scripts/``, the tests and ``pkdose validate``; the answer engine and the commands
that predict exposure never import them.
"""
