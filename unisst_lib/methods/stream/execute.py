"""Running a streamed fill's tasks: here, on a local dask cluster, or on a scheduler.

:func:`executor` gives the :class:`Executor` of ``workers`` / ``scheduler``: none of
them runs the tasks one after the other in this process (the default: no cluster,
the model's threads use the cores); ``workers=N`` starts a
:class:`distributed.LocalCluster` of N single-threaded workers (threads of this process,
or with ``processes=True`` processes); ``scheduler`` (an
address such as ``tcp://10.0.0.5:8786``, a ``scheduler.json`` file, or a
:class:`distributed.Client`) uses a cluster the user already runs (dask-jobqueue,
Kubernetes, …). Whatever the tasks share (the input, land, the model's path) is sent
once to each worker; the model is loaded once per worker process.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence

from tqdm.auto import tqdm

from unisst_lib.core.errors import UnisstError

__all__ = ["ClusterError", "Executor", "executor"]

log = logging.getLogger(__name__)


class ClusterError(UnisstError):
    """A dask cluster that cannot be started or reached."""


class Executor:
    """Runs ``fn(item, shared)`` for each item, with one progress bar over the tasks."""

    def __init__(self, client=None, *, own_processes: bool = False) -> None:
        self.client = client
        self.own_processes = own_processes  # workers are processes this executor started

    @property
    def workers(self) -> int:
        """How many tasks run at once."""
        if self.client is None:
            return 1
        return max(1, sum(self.client.nthreads().values()))

    def map(self, fn: Callable, items: Sequence, shared, *, progress: bool, desc: str) -> list:
        """``[fn(item, shared) for item in items]`` on the workers, in ``items``' order."""
        bar = tqdm(total=len(items), desc=desc, unit="task", disable=not progress)
        try:
            if self.client is None:
                results = []
                for item in items:
                    results.append(fn(item, shared))
                    bar.update(1)
                return results
            return self._map_cluster(fn, items, shared, bar)
        finally:
            bar.close()

    def _map_cluster(self, fn, items, shared, bar) -> list:
        from distributed import as_completed

        shared_f = self.client.scatter(shared, broadcast=True, hash=False)
        futures = [self.client.submit(fn, item, shared_f, pure=False) for item in items]
        order = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(items)
        try:
            for fut in as_completed(futures):
                results[order[fut.key]] = fut.result()  # raises the task's error here
                bar.update(1)
        except BaseException:
            self.client.cancel(futures)
            raise
        return results


@contextlib.contextmanager
def executor(
    *, workers: int | None = None, scheduler=None, processes: bool = False
) -> Iterator[Executor]:
    """The :class:`Executor` of ``workers`` (a local cluster) or ``scheduler`` (a cluster's)."""
    if workers is not None and scheduler is not None:
        raise ClusterError(
            "give workers (a local cluster) or scheduler (an existing one), not both"
        )
    if workers is None and scheduler is None:
        yield Executor()
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise ClusterError(
            "the dask 'distributed' package is missing: pip install distributed"
        ) from err
    if scheduler is not None:
        with _client_of(scheduler, Client) as client:
            _log_dashboard(client, "the scheduler at " + str(client.scheduler.address))
            yield Executor(client)
        return
    if int(workers) < 1:
        raise ClusterError(f"workers must be at least 1, got {workers}")
    # the cluster's own start/stop messages are not the fill's: warnings only
    logging.getLogger("distributed").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    cluster = LocalCluster(
        n_workers=int(workers), threads_per_worker=1, processes=processes,
        dashboard_address=":0", silence_logs=logging.WARNING,
    )  # fmt: skip
    with cluster, Client(cluster) as client:
        _log_dashboard(client, f"a local cluster of {workers} workers")
        yield Executor(client, own_processes=processes)


@contextlib.contextmanager
def _client_of(scheduler, client_cls):
    """A client of ``scheduler``: a Client (kept open), an address or a scheduler file."""
    if isinstance(scheduler, client_cls):
        yield scheduler
        return
    text = os.fspath(scheduler)
    if text.endswith(".json") and not os.path.isfile(text):  # Client would wait for it forever
        raise ClusterError(
            f"the scheduler file {text} does not exist: give the file your cluster's scheduler "
            "wrote (dask scheduler --scheduler-file PATH), or its address (tcp://host:8786)"
        )
    kwargs = {"scheduler_file": text} if text.endswith(".json") else {"address": text}
    try:
        client = client_cls(timeout="20s", **kwargs)
    except (OSError, TimeoutError) as err:
        raise ClusterError(
            f"cannot reach the dask scheduler {text}: {err}. Check the address (e.g. "
            "tcp://host:8786) or the scheduler file, and that the scheduler is running."
        ) from err
    with client:
        yield client


def _log_dashboard(client, what: str) -> None:
    link = getattr(client, "dashboard_link", None)
    log.info("running on %s; dashboard: %s", what, link or "none (bokeh missing)")
