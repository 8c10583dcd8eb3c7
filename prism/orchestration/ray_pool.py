"""Ray for the portfolio: start a local instance or join a cluster, and fan tasks out with bounded memory.

A local instance gets the machine's cores (`num_cpus`), no dashboard and no usage reporting; `--address`
joins a running cluster (`ray start --head` on one machine, `ray start --address HEAD:6379` on the others),
where every node needs Prism installed and the portfolio's folder on a filesystem they all see. Each task
asks for one CPU, so the number of entities fitted at once is the number of CPUs Ray has.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from prism.errors import InputError

QUIET = {"RAY_USAGE_STATS_ENABLED": "0"}  # no usage report leaves the machine
IN_FLIGHT_PER_CPU = 2  # tasks queued per CPU: enough to keep Ray busy, few enough that hundreds cost no memory
CONNECT_TIMEOUT_S = 5.0


@contextmanager
def ray_session(address: str | None, cpus: int | None = None) -> Iterator[int]:
    """Ray running for the block (a started local instance is shut down after it; one already running in this
    process, as a test's, is reused and left running); yields the CPUs it has."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
    import ray

    if address is not None:
        _check_reachable(address)
    started = not ray.is_initialized()
    if started:
        _init(ray, address, cpus)
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if started:
            ray.shutdown()


def _init(ray: Any, address: str | None, cpus: int | None) -> None:
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
             "configure_logging": True}
    if address is None:
        ray.init(num_cpus=cpus or os.cpu_count() or 1, **quiet)
        return
    try:
        ray.init(address=address, **quiet)
    except Exception as exc:  # ConnectionError, or a timeout inside Ray: the address names no cluster
        raise InputError(f"--address {address}: Ray is not reachable there ({first_line(exc)}); start a head "
                         f"with `ray start --head` or check the address") from None


def _check_reachable(address: str) -> None:
    """A `host:port` that accepts no connection is refused in one line before Ray retries for a minute."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise InputError(f"--address {address}: Ray is not reachable there ({exc.strerror or exc}); start a head "
                         f"with `ray start --head --port {port}` or check the address") from None


def fan_out(task: Callable[..., Any], calls: Iterable[tuple], cpus: int,
            done: Callable[[tuple, Any | BaseException], None]) -> None:
    """Run `task(*call)` for every call as a one-CPU Ray task, at most IN_FLIGHT_PER_CPU × `cpus` submitted at a
    time; `done(call, result)` gets each result as it ends (or the exception that ended its worker)."""
    import ray

    remote = ray.remote(num_cpus=1, max_retries=0)(task)
    pending: dict[Any, tuple] = {}
    calls = iter(calls)
    try:
        while True:
            while len(pending) < IN_FLIGHT_PER_CPU * cpus and (call := next(calls, None)) is not None:
                pending[remote.remote(*call)] = call
            if not pending:
                return
            finished, _ = ray.wait(list(pending), num_returns=1)
            for ref in finished:
                call = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the worker died (memory, a crash): that call fails, the others go on
                    result = exc
                done(call, result)
    finally:
        for ref in pending:  # Ctrl-C or an error here: nothing keeps running after the command ends
            ray.cancel(ref, force=True)


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
