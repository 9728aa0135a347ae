"""Shared test helpers: an independent ODE reference for every model structure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pkdose import solver


def ode_central(sys: solver.System, events, times, vm=None, km=None, infusions=(),
                method="LSODA"):
    """Central amount of subject 0 by numerical integration (Radau, rtol 1e-10).

    events: iterable of (time_h, amount_mg, route) boluses ('oral' -> first absorption
    stage or the Michaelis-Menten gut, 'iv' -> central). infusions: (start, duration, rate)
    into central, or (start, duration, rate, state) into that state (0 = depot).
    Independent of pkdose's closed forms: it integrates dx/dt = A x (+ MM gut) directly.
    """
    mm = vm is not None
    a_lin = solver.system_matrix(sys)[0]
    n_lin = a_lin.shape[0]
    c = sys.central
    n_state = n_lin + (1 if mm else 0)

    def rhs(t, y):
        dy = np.zeros(n_state)
        dy[:n_lin] = a_lin @ y[:n_lin]
        for start, dur, rate, *into in infusions:
            if start <= t < start + dur:
                dy[into[0] if into else c] += rate
        if mm:
            g = max(y[n_lin], 0.0)
            r = vm * g / (km + g)
            dy[n_lin] = -r
            dy[c] += r
        return dy

    def jac(t, y):
        j = np.zeros((n_state, n_state))
        j[:n_lin, :n_lin] = a_lin
        if mm:
            g = max(y[n_lin], 0.0)
            d = vm * km / (km + g) ** 2
            j[n_lin, n_lin] = -d
            j[c, n_lin] = d
        return j

    times = np.asarray(times, float)
    breaks = sorted({e[0] for e in events} | {i[0] for i in infusions}
                    | {i[0] + i[1] for i in infusions})
    breaks = [b for b in breaks if b <= times.max()] + [times.max() + 1.0]
    y = np.zeros(n_state)
    out = np.zeros(times.size)
    cur = 0.0
    for edge in breaks:
        if edge > cur:
            mask = (times >= cur) & (times < edge)
            t_eval = np.append(times[mask], edge)
            sol = solve_ivp(rhs, (cur, edge), y, method=method, rtol=1e-10, atol=1e-16,
                            jac=jac, t_eval=t_eval)
            out[mask] = sol.y[c, :-1]
            y = sol.y[:, -1].copy()
            cur = edge
        for t_e, amt, route in events:
            if t_e == edge:
                if route == "oral":
                    y[n_lin if mm else 0] += amt
                else:
                    y[c] += amt
    return out


@pytest.fixture
def rel_err():
    """Max relative error where the reference is above 1e-6 of its peak."""

    def _rel(got, ref):
        got, ref = np.asarray(got, float), np.asarray(ref, float)
        mask = ref > 1e-6 * ref.max()
        return float(np.max(np.abs(got[mask] - ref[mask]) / ref[mask]))

    return _rel


def exposure_row(regimen, model=None, subjects=None, **kw):
    """The answer engine's metrics of one regimen for one subject, as a Series."""
    from pkdose.comparison import compare

    window = kw.pop("window_h", None)
    return compare([regimen], model, subjects, window_h=window, **kw).frame.iloc[0]

