"""Sweeps: many independent work items (maze seeds) split into chunks, run in this process
or on Ray (one machine or a cluster), their rows streamed back to the caller.

A sweep is a list of chunks and a chunk function ``fn(model, chunk) -> rows`` (any iterable
of rows, one per item). ``run_sweep`` runs each chunk once and yields the rows:

* in-process (the default; Ray is not imported): chunk after chunk, each row as ``fn``
  produces it;
* on Ray (``Backend(ray=True)``: a local instance started for the sweep, ``num_cpus`` =
  ``workers``; ``Backend(address=...)``, or ``ray=True`` with ``RAY_ADDRESS`` set: an
  existing cluster): one task per chunk, at most ``workers`` (default: the cluster's CPUs)
  in flight, each on one CPU with one torch thread; a chunk's rows reach the caller when the
  whole chunk has finished, chunks in completion order (or, with ``ordered=True``, in chunk
  order, as in-process: for callers whose result depends on the order of the rows).

The workers get the model once through Ray's object store (its weights, config and
checkpoint record), not by loading the checkpoint again; they run it on the CPU, whatever
the driver's device. A task whose worker dies is run again by Ray (``max_retries``); only a
finished task returns rows and only the caller writes them, so no item is lost or repeated.
A chunk function must give each item's row independently of when and where its chunk runs
(the rollout engine does: every maze's randomness comes from the run seed and the maze's
seed).

A Ray instance the sweep started is shut down when it ends (or is interrupted); one already
running in the process (``ray.init()`` before) is used and left running. A local instance
started here listens on 127.0.0.1 only and has no dashboard; a cluster's address that accepts
no connection is an error within seconds (``check_reachable``), not minutes of Ray's retries.
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from hooked_impala import checks
from hooked_impala.model import HookedImpala, ImpalaConfig

__all__ = [
    "Backend",
    "ChunkFunction",
    "SweepError",
    "chunked",
    "ray_module",
    "ray_session",
    "run_sweep",
]

T = TypeVar("T")

#: ``fn(model, chunk) -> rows``: the work of one chunk, a row per item (a list, or any
#: iterable: in-process the rows are passed on as they come).
ChunkFunction = Callable[[HookedImpala | None, Sequence[Any]], Iterable[Any]]

INSTALL_RAY = 'pip install "hooked-impala[ray]"'


class SweepError(ValueError):
    """A sweep that cannot run (Ray asked for but not installed) or a chunk that failed."""


def ray_module() -> Any:
    """The ``ray`` package, or SweepError saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError:  # also when sys.modules["ray"] is None
        raise SweepError(f"running on Ray needs the ray package: {INSTALL_RAY}") from None


@dataclass(frozen=True)
class Backend:
    """Where a sweep runs.

    Attributes:
        ray: run the chunks as Ray tasks: on the cluster of ``RAY_ADDRESS`` when that is set,
            else on a local instance started for the sweep.
        address: an existing Ray cluster to join ("HOST:6379", "auto", "ray://..."); implies
            ``ray``.
        workers: chunks run at once on Ray (a local instance gets this many CPUs; default:
            every CPU there is). In-process: must be None or 1.
    """

    ray: bool = False
    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.address is not None and not str(self.address).strip():
            raise SweepError("the Ray address is empty: give HOST:PORT, or leave it out")
        if self.workers is not None:
            checks.integer("workers", self.workers, minimum=1)
            if not self.uses_ray and self.workers != 1:
                raise SweepError(
                    f"workers={self.workers} needs Ray (ray=True or an address; --ray or "
                    "--ray-address on the command line): in-process sweeps run on one worker"
                )
        if self.uses_ray:
            ray_module()  # fail now, before any work, if it is missing

    @property
    def uses_ray(self) -> bool:
        return bool(self.ray) or self.address is not None


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive chunks of ``size`` (the last one shorter)."""
    size = checks.integer("chunk_size", size, minimum=1)
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def run_sweep(
    model: HookedImpala | None,
    chunks: Sequence[Sequence[Any]],
    fn: ChunkFunction,
    *,
    backend: Backend = Backend(),
    max_retries: int = 3,
    ordered: bool = False,
) -> Iterator[Any]:
    """Run ``fn(model, chunk)`` once for each chunk and yield the rows (see the module
    docstring: in-process in chunk order as they come, on Ray a whole chunk at a time in
    completion order, or in chunk order if ``ordered``). ``model`` may be None for work that
    needs none. Close the iterator (or exhaust it) to cancel what is still running.

    Raises:
        SweepError: Ray asked for and not installed; a chunk that failed on Ray (after
            ``max_retries`` reruns for a lost worker), naming its first and last item.
    """
    if not backend.uses_ray:
        for chunk in chunks:
            yield from fn(model, chunk)
        return
    yield from _on_ray(model, chunks, fn, backend, max_retries, ordered)


@dataclass(frozen=True)
class _Weights:
    """What a worker needs to rebuild the model: the config, the weights as plain CPU
    tensors (their dtype kept) and the checkpoint record. Picklable."""

    config: ImpalaConfig
    state: dict[str, torch.Tensor]
    dtype: torch.dtype
    checkpoint: Any

    @classmethod
    def of(cls, model: HookedImpala) -> _Weights:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return cls(model.cfg, state, model.fc_policy.weight.dtype, model.checkpoint)

    def model(self) -> HookedImpala:
        model = HookedImpala(self.config).to(dtype=self.dtype)
        model.load_state_dict(self.state)
        model.checkpoint = self.checkpoint
        return model.eval()


def _run_chunk(weights: _Weights | None, fn: ChunkFunction, chunk: Sequence[Any]) -> list[Any]:
    """A Ray task: one chunk in a worker process, with one torch thread (one task per CPU)."""
    torch.set_num_threads(1)
    return list(fn(None if weights is None else weights.model(), chunk))


@contextlib.contextmanager
def ray_session(backend: Backend) -> Iterator[None]:
    """Within the block, this process is connected to Ray as ``backend`` says, so several
    sweeps share one instance (nothing happens for an in-process backend). A connection made
    here is shut down at the end; one that was already there is used and kept."""
    if not backend.uses_ray:
        yield
        return
    ray = ray_module()
    if ray.is_initialized():
        yield
        return
    address = backend.address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        check_reachable(address)  # Ray itself would retry an unreachable address for minutes
    try:
        if address is None:  # a local instance, embedded: nothing to set up
            with _single_machine(ray):
                # "local": a new instance even when a `ray start` cluster runs on this machine
                # (without it Ray connects to that cluster and refuses num_cpus).
                ray.init(
                    address="local",
                    num_cpus=backend.workers,
                    include_dashboard=False,
                    logging_level="warning",
                )
        else:
            ray.init(address=address, logging_level="warning")
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"the cluster at {address}" if address else "a new local instance"
        raise SweepError(f"cannot start Ray on {where}: {err}") from None
    try:
        if address is None:
            _check_loopback(ray)
        yield
    finally:
        ray.shutdown()


#: Seconds to wait for a cluster's address to accept a connection.
REACH_TIMEOUT = 5.0


def check_reachable(address: str, timeout: float = REACH_TIMEOUT) -> None:
    """SweepError naming ``address`` ("HOST:PORT" or "ray://HOST:PORT") unless something
    accepts connections there within ``timeout`` seconds; other forms ("auto") are Ray's to
    resolve."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        why = err.strerror or type(err).__name__  # a timeout has no strerror
        raise SweepError(
            f"cannot reach the Ray cluster at {address}: {why}. Is a Ray head node running "
            "there (ray start --head)? Without an address, --ray starts a local instance."
        ) from None


#: Ray's switch for single-machine use (its default on macOS and Windows): the node's address
#: is then 127.0.0.1 instead of this machine's network address, so the GCS, the raylet and
#: the workers listen on the loopback interface only (Ray starts every server on the node's
#: address, and on all interfaces otherwise).
_CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def _single_machine(ray: Any) -> Iterator[None]:
    """Within the block, a Ray instance started here is a single-machine one (see
    ``_CLUSTER_SWITCH``): the switch is read from the environment when ray is imported (it
    may have been already) and by the processes started meanwhile."""
    constants = importlib.import_module("ray._private.ray_constants")
    flag, env = constants.ENABLE_RAY_CLUSTER, os.environ.get(_CLUSTER_SWITCH)
    constants.ENABLE_RAY_CLUSTER = False
    os.environ[_CLUSTER_SWITCH] = "0"
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = flag
        if env is None:
            os.environ.pop(_CLUSTER_SWITCH, None)
        else:
            os.environ[_CLUSTER_SWITCH] = env


def _check_loopback(ray: Any) -> None:
    """SweepError if the local instance's address is not a loopback one (a Ray version that
    ignores the switch): its servers would listen on the network."""
    address = ray.util.get_node_ip_address()
    if not ipaddress.ip_address(address).is_loopback:
        raise SweepError(
            f"the local Ray instance listens on {address}, not on 127.0.0.1 only (this Ray "
            "version ignores the single-machine switch); start a head node yourself and pass "
            "its address (--ray-address) to choose where it listens"
        )


def _on_ray(
    model: HookedImpala | None,
    chunks: Sequence[Sequence[Any]],
    fn: ChunkFunction,
    backend: Backend,
    max_retries: int,
    ordered: bool,
) -> Iterator[Any]:
    """One task per chunk, at most ``workers`` in flight; rows as whole tasks finish (or, if
    ``ordered``, as the chunks before them have been passed on)."""
    ray = ray_module()
    max_retries = checks.integer("max_retries", max_retries, minimum=0)
    pending: dict[Any, tuple[int, Sequence[Any]]] = {}  # task -> (chunk index, chunk)
    with ray_session(backend):
        try:
            # Put once: every task reads the same object, no checkpoint is loaded again.
            weights = None if model is None else ray.put(_Weights.of(model))
            task = ray.remote(num_cpus=1, max_retries=max_retries)(_run_chunk)
            in_flight = backend.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            queue = enumerate(chunks)
            waiting: dict[int, list[Any]] = {}  # ordered: finished chunks held for their turn
            turn = 0  # ordered: the index of the next chunk to pass on
            # Finished chunks held back count against a cap, so a slow chunk does not make
            # the driver hold the rows of every chunk after it.
            held = 2 * in_flight

            def submit() -> None:
                while len(pending) < in_flight and len(pending) + len(waiting) < held:
                    item = next(queue, None)
                    if item is None:
                        return
                    pending[task.remote(weights, fn, item[1])] = item

            submit()
            while pending:
                [ready], _ = ray.wait(list(pending), num_returns=1)
                index, chunk = pending.pop(ready)
                try:
                    rows = ray.get(ready)
                except ray.exceptions.RayError as err:
                    cause = getattr(err, "cause", None) or err
                    raise SweepError(
                        f"the chunk of items {chunk[0]!r}..{chunk[-1]!r} failed on Ray: "
                        f"{type(cause).__name__}: {cause}"
                    ) from None
                if not ordered:
                    submit()
                    yield from rows
                    continue
                # Chunks are submitted in order, so the one whose turn it is was submitted:
                # it is pending or waiting, and the loop ends only when every chunk is out.
                waiting[index] = rows
                while turn in waiting:
                    rows = waiting.pop(turn)
                    turn += 1
                    submit()
                    yield from rows
                submit()
        finally:  # also on Ctrl-C or an abandoned iterator: stop the chunks still running
            for ref in pending:
                ray.cancel(ref, force=True)
