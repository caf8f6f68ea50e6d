"""Ports handed to servers about to start come from below the kernel's ephemeral range, so
no outgoing connection can take one before the server binds it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from embedded import process
from embedded.process import free_port

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not RANGE.exists(), reason="the ephemeral range is a Linux setting")
def test_ports_are_bindable_distinct_and_below_the_ephemeral_range() -> None:
    floor = int(RANGE.read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(port < floor for port in ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


@pytest.mark.skipif(not RANGE.exists(), reason="the ephemeral range is a Linux setting")
def test_a_port_something_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        for busy in range(23_456, 24_456):
            try:
                taken.bind(("127.0.0.1", busy))
                break
            except OSError:
                continue
        taken.listen()
        offered = iter([busy, busy, *range(busy + 1_000, busy + 1_100)])
        monkeypatch.setattr(process.random, "randrange", lambda *_: next(offered))
        assert free_port() >= busy + 1_000  # the busy one, offered twice, was refused
