"""Start a local dask.distributed cluster, or join an existing one, for batch analysis.

``pynta analyze --scheduler local`` starts a :class:`distributed.LocalCluster` of single-threaded
worker processes (detection is CPU bound and holds the GIL in places, so processes scale and
threads do not); ``--scheduler tcp://HOST:PORT`` connects to a scheduler that is already running,
for example one started by dask-jobqueue on an HPC cluster (see ``docs/cluster.md``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

import dask
from distributed import Client, LocalCluster

from napari_pynta.errors import PyntaDataError, PyntaInputError, require_int

#: the ``--scheduler`` value that starts a cluster on this machine
LOCAL = "local"

#: dask starts workers with these set to 1. The number of BLAS threads changes the summation order
#: of matrix products (the size deconvolution) and so the last bit of some results; local workers
#: keep this process's threading so that they reproduce the serial pipeline bit for bit.
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_ADDRESS = re.compile(
    r"^(?P<protocol>tcp|tls)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]*)"  # [IPv6], IPv4 or a host name
    r":(?P<port>\d+)$"
)


def validate_scheduler(scheduler: str) -> str:
    """Return ``scheduler`` if it is ``"local"`` or a ``tcp://HOST:PORT`` address.

    Parameters
    ----------
    scheduler : str
        ``"local"`` or the address of a running dask scheduler (``tcp://`` or ``tls://``).

    Returns
    -------
    str
        The validated value, stripped of surrounding white space.

    Raises
    ------
    PyntaInputError
        When the value is neither ``local`` nor a well-formed address with a port in 1-65535.
    """
    value = str(scheduler).strip()
    if value == LOCAL:
        return value
    match = _ADDRESS.match(value)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise PyntaInputError(
            f"--scheduler must be 'local' or a dask scheduler address tcp://HOST:PORT "
            f"(port 1-65535), got {scheduler!r}"
        )
    return value


def validate_workers(scheduler: str, n_workers: int | None) -> int | None:
    """Check ``--workers`` against ``--scheduler``; return the number of local workers to start.

    Parameters
    ----------
    scheduler : str
        A value accepted by :func:`validate_scheduler`.
    n_workers : int or None
        Requested number of local worker processes; None means one per CPU core for ``local``.

    Returns
    -------
    int or None
        The number of worker processes for a local cluster, None for a remote scheduler.

    Raises
    ------
    PyntaInputError
        When ``n_workers`` is below 1, or is given together with a remote scheduler address
        (the size of an existing cluster is decided where that cluster was started).
    """
    if scheduler != LOCAL:
        if n_workers is not None:
            raise PyntaInputError(
                "--workers applies only to --scheduler local; an existing cluster keeps the "
                f"workers it was started with (got --workers {n_workers} with {scheduler})"
            )
        return None
    if n_workers is None:
        return os.cpu_count() or 1
    return require_int("--workers", n_workers, minimum=1)


@contextlib.contextmanager
def dask_client(
    scheduler: str = LOCAL,
    n_workers: int | None = None,
    *,
    memory_limit: str | int | None = "auto",
    timeout_s: float = 10.0,
) -> Iterator[Client]:
    """Yield a :class:`distributed.Client`; close it (and a cluster it started) on exit.

    Parameters
    ----------
    scheduler : str
        ``"local"`` starts a :class:`~distributed.LocalCluster` of ``n_workers`` single-threaded
        worker processes; ``"tcp://HOST:PORT"`` connects to an existing scheduler.
    n_workers : int or None
        Number of local worker processes (default: one per CPU core). Not allowed with an address.
    memory_limit : str, int or None
        Memory limit per local worker, as accepted by dask (``"2GiB"``, bytes, ``"auto"`` to share
        the machine's memory evenly, None for no limit).
    timeout_s : float
        How long to wait for a remote scheduler to answer and to have at least one worker.

    Yields
    ------
    distributed.Client
        A client connected to a cluster with at least one worker.

    Raises
    ------
    PyntaInputError
        Malformed ``scheduler`` or ``n_workers``, or no scheduler answering at the address.
    PyntaDataError
        A remote scheduler that answers but has no worker within ``timeout_s``.
    """
    scheduler = validate_scheduler(scheduler)
    n_workers = validate_workers(scheduler, n_workers)
    if scheduler == LOCAL:
        config: dict[str, Any] = {
            f"distributed.nanny.pre-spawn-environ.{name}": None for name in BLAS_THREAD_VARIABLES
        }
        # the statistical profiler samples every worker 100 times a second: ~5 % of its CPU
        config["distributed.worker.profile.enabled"] = False
        with (
            dask.config.set(config),
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=memory_limit,
                dashboard_address=":0",  # a free port: several clusters may run at once
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster, set_as_default=False) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise PyntaInputError(
            f"--scheduler {scheduler}: no dask scheduler answered within {timeout_s:g} s ({error})"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except TimeoutError:
            raise PyntaDataError(
                f"the dask scheduler at {scheduler} has no worker (waited {timeout_s:g} s); "
                "start workers with `dask worker " + scheduler + "` or dask-jobqueue"
            ) from None
        yield client
