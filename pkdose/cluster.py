"""Run pkdose work units on a Dask cluster (optional extra ``pkdose[dask]``).

The units are the same whole blocks of subjects a local run uses, so a cluster run gives
bitwise the same results as a run on one machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from pkdose.errors import PkdoseError


def _client(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise PkdoseError("running on a Dask scheduler needs Dask: pip install "
                          "'pkdose[dask]'", option="scheduler") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(str(scheduler), timeout="10s"), True
    except (OSError, TimeoutError) as exc:
        raise PkdoseError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None


def dask_map(scheduler, fn: Callable, job, units: Sequence[tuple[int, int]]
             ) -> Iterator[tuple[int, dict]]:
    """Yield ``(index, fn(job, start, stop))`` for every unit as the cluster finishes it.

    ``scheduler`` is an address (``tcp://host:8786``) or a ``distributed.Client``; a client
    made here is closed afterwards.
    """
    from distributed import as_completed

    client, own = _client(scheduler)
    try:
        [shared] = client.scatter([job], broadcast=True)
        futs = [client.submit(fn, shared, a, b, pure=False) for a, b in units]
        index = {f.key: i for i, f in enumerate(futs)}
        for fut in as_completed(futs):
            yield index[fut.key], fut.result()
    finally:
        if own:
            client.close()
