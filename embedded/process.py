"""Child processes of `aitp up`: started in their own session, stopped gracefully then forced.

Children run in a new session so that a Ctrl-C in the terminal reaches only the supervisor,
which then stops them in order; a pid is trusted only while the process behind it still runs
the command we started (pids are reused).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ProcessSpec:
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    stop_signal: signal.Signals = signal.SIGTERM


# Handles of the children this process started: kept so that their exit is collected
# through them (no zombies, and no Popen dropped while its process still runs).
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn(spec: ProcessSpec) -> int:
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    with spec.log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            user=spec.user,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc.pid


def is_running(pid: int | None, marker: str) -> bool:
    """True while `pid` is alive, not a zombie, and its command line contains `marker`.

    A child of this process is judged by its handle: between fork and exec its command line
    is still ours, so the marker would say "not ours" of a child that is starting.
    """
    if pid is None:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return marker in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def stop_all(targets: Sequence[tuple[int, signal.Signals]], timeout: float = 15.0) -> list[int]:
    """Signal every pid at once, wait for all, SIGKILL whoever outlives `timeout`.

    Returns the pids that had to be killed. Exited children of ours are reaped here; others
    (a detached platform's, re-parented to init) count as gone once they are zombies.
    """
    waiting: dict[int, psutil.Process] = {}
    for pid, sig in targets:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(sig)
            proc.resume()  # a stopped (SIGSTOP) process acts on the signal only once continued
            waiting[pid] = proc
        except psutil.NoSuchProcess:
            continue
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        reap_children()
        waiting = {pid: p for pid, p in waiting.items() if _alive(p)}
        if waiting:
            time.sleep(0.02)
    forced = list(waiting)
    for proc in waiting.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    deadline = time.monotonic() + 5
    while waiting and time.monotonic() < deadline:
        reap_children()
        waiting = {pid: p for pid, p in waiting.items() if _alive(p)}
        time.sleep(0.02)
    return forced


def stop(pid: int, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> bool:
    """Stop one process; True if it had to be forced."""
    return bool(stop_all([(pid, sig)], timeout))


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reap_children() -> None:
    """Collect exited children of this process so they do not linger as zombies."""
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


_LOWEST_FREE_PORT = 20_000  # above the well-known and registered services' usual ports
_given: set[int] = set()


def _ephemeral_floor() -> int:
    """Where the kernel starts choosing ports for outgoing connections (Linux)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, for a server about to start.

    It is chosen below the kernel's ephemeral range: a port from that range can be taken by
    any outgoing connection between now and the moment the server binds it (a Temporal dev
    server once failed to start that way). Where the range is unknown, or no port below it
    is free, the kernel picks one.
    """
    floor = _ephemeral_floor()
    if floor > _LOWEST_FREE_PORT:
        for _ in range(200):
            port = random.randrange(_LOWEST_FREE_PORT, floor)
            if port in _given:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _given.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port_closed(host: str, port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(host, port, 0.2):
            return True
        time.sleep(0.1)
    return False
