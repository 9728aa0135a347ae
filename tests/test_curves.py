"""Population curves (pkdose.simulate with n/population/seed, simulate_curves): the same
subjects as simulate_population, every output form, bounded memory, bitwise blocks."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import pkdose
from pkdose.errors import PkdoseError
from pkdose.population import (
    BLOCK,
    PERCENTILES,
    simulate_course,
    simulate_curves,
    simulate_population,
)

pytestmark = pytest.mark.filterwarnings("ignore::pkdose.errors.ExtrapolationWarning")
LINEAR = "golubovic2019"


@pytest.mark.parametrize("model", [LINEAR, "wu2012"])
def test_curves_are_the_subjects_of_simulate_population(model):
    n = BLOCK + 44  # two random-number blocks, the second partial
    _, fan = simulate_population("sirolimus 5 mg weekly", n, "older-adults", seed=7,
                                 model=model)
    curves = simulate_curves("sirolimus 5 mg weekly", n, "older-adults", seed=7, model=model,
                             times_h=fan["time_h"].to_numpy())
    assert curves.shape == (n, len(fan))
    # The fan is the percentiles of the population's float32 curves, computed in blocks.
    q = np.percentile(curves.astype(np.float32), PERCENTILES, axis=0)
    for i, p in enumerate(PERCENTILES):
        np.testing.assert_array_equal(fan[f"p{p}"].to_numpy(), q[i])


def test_curves_are_the_subjects_of_simulate_course():
    n = BLOCK + 4
    course = simulate_course("sirolimus 2 mg daily for 14 days", n, "older-adults", seed=3)
    curves = simulate_curves("sirolimus 2 mg daily for 14 days", n, "older-adults", seed=3,
                             until_h=14 * 24)
    np.testing.assert_array_equal(course["cmax_ng_ml"].to_numpy(), curves.max(axis=1))
    np.testing.assert_array_equal(course["ctrough_last_ng_ml"].to_numpy(),
                                  curves[:, 13 * 24])


def test_long_wide_and_array_hold_the_same_values():
    kw = dict(n=5, population="older-adults", seed=2, until_h=48.0, step_h=0.5)
    arr = pkdose.simulate("everolimus 5 mg weekly", output="array", **kw)
    long = pkdose.simulate("everolimus 5 mg weekly", **kw)
    wide = pkdose.simulate("everolimus 5 mg weekly", output="wide", **kw)
    plasma = pkdose.simulate("everolimus 5 mg weekly", output="array", column="plasma_ng_ml",
                             **kw)
    t = np.arange(0.0, 48.25, 0.5)
    assert arr.shape == plasma.shape == (5, t.size)
    assert list(long.columns) == ["id", "time_h", "conc_ng_ml", "plasma_ng_ml"]
    np.testing.assert_array_equal(long["id"].to_numpy(), np.repeat(np.arange(1, 6), t.size))
    np.testing.assert_array_equal(long["time_h"].to_numpy(), np.tile(t, 5))
    np.testing.assert_array_equal(long["conc_ng_ml"].to_numpy().reshape(5, -1), arr)
    np.testing.assert_array_equal(long["plasma_ng_ml"].to_numpy().reshape(5, -1), plasma)
    assert list(wide.index) == [1, 2, 3, 4, 5] and wide.index.name == "id"
    np.testing.assert_array_equal(wide.columns.to_numpy(), t)
    np.testing.assert_array_equal(wide.to_numpy(), arr)
    assert np.all(arr[:, 1:] > plasma[:, 1:])  # red-cell binding: whole blood above plasma
    one = pkdose.simulate("everolimus 5 mg weekly", n=1, seed=2, until_h=2.0)
    assert list(one.columns) == ["id", "time_h", "conc_ng_ml", "plasma_ng_ml"]


@pytest.mark.parametrize("model", [LINEAR, "wu2012", "terheine2018"])
def test_curves_are_bitwise_the_same_whatever_the_memory_budget(model):
    drug = "everolimus" if model == "terheine2018" else "sirolimus"
    args = (f"{drug} 2 mg daily", 40)
    kw = dict(population="older-adults", seed=5, model=model, until_h=24 * 10.0, step_h=0.5)
    whole = simulate_curves(*args, **kw)
    for budget in (1, 200_000, 1 << 20):  # one subject per block, a few, the probe and more
        np.testing.assert_array_equal(simulate_curves(*args, **kw, memory_budget_bytes=budget),
                                      whole)


def _working_bytes(budget: int | None) -> int:
    """Peak bytes traced during a call, beyond its result."""
    tracemalloc.start()
    try:
        arr = simulate_curves("sirolimus 1 mg daily", 1500, seed=1, model=LINEAR,
                              until_h=2184.0, memory_budget_bytes=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - arr.nbytes


def test_blocks_keep_working_memory_within_the_budget():
    # 1,500 subjects x 2,185 hours (26 MB of result). Unbounded, one block holds the
    # plans of every subject; a 4 MB budget keeps the working memory near 4 MB (what is
    # left is the covariate table and random effects, a few hundred kB).
    unbounded = _working_bytes(1 << 34)
    bounded = _working_bytes(4 << 20)
    assert bounded < (4 << 20) + (1 << 20) < unbounded


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(n=0), "whole number >= 1"),
    (dict(n=10, output="table"), "unknown output 'table'"),
    (dict(n=10, column="plasma_ng_ml"), "gives conc_ng_ml, not 'plasma_ng_ml'"),
    (dict(n=1_000_000, until_h=8760.0), "limit on curve values held at once"),
    (dict(n=10, subjects={"weight_kg": 70}), "not both"),
    (dict(n=10, memory_budget_bytes=0), "positive number of bytes"),
])
def test_bad_requests_are_one_clear_error(kwargs, fragment):
    with pytest.raises(PkdoseError, match=fragment):
        pkdose.simulate("sirolimus 1 mg daily", **kwargs)


def test_typical_value_overrides_apply_to_every_subject():
    kw = dict(seed=4, model=LINEAR, until_h=72.0)
    base = simulate_curves("sirolimus 2 mg daily", 20, **kw)
    faster = simulate_curves("sirolimus 2 mg daily", 20, params={"cl": 2 * 12.2}, **kw)
    assert np.all(faster[:, 1:] < base[:, 1:])
