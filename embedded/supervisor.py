"""`aitp up`, `status` and `down`: start the embedded servers, watch them, stop them.

`up` starts only what is not already answering, so running it twice never starts a second
copy and running it after a crash restarts just the component that died. In the foreground it
keeps watching, restarts a child that dies, and on Ctrl-C stops every child it started; with
`--detach` it returns once all answer their health checks and leaves them running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from config.settings import Settings
from embedded import process, state
from embedded.components import Component, ComponentError
from embedded.platform_processes import all_components
from embedded.state import ComponentRecord, PlatformState

HEALTH_TIMEOUT_S = 90.0
PROBE_TIMEOUT_S = 10.0  # one check of a running process, at the most
REJOIN_S = 20.0  # how long a process may take to find again a server restarted under it
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    address: str
    pid: int | None
    status: str  # "up", or why it is not
    external: bool

    @property
    def up(self) -> bool:
        """Answering and not stuck: a degraded process is waiting out an outage elsewhere."""
        return self.status == "up" or self.status.startswith("degraded")

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "address": self.address,
            "pid": self.pid,
            "status": self.status,
            "external": self.external,
        }


Report = Callable[[str], None]


def _silent(_: str) -> None:
    return None


class PlatformError(RuntimeError):
    pass


async def status(
    settings: Settings, components: Sequence[Component] | None = None
) -> list[ComponentStatus]:
    comps = list(components or all_components(settings))
    current = state.load(settings.data_dir)
    return list(await asyncio.gather(*(_probe(c, current) for c in comps)))


async def _probe(comp: Component, current: PlatformState) -> ComponentStatus:
    if not comp.embedded:
        url = comp.external_url or ""
        try:
            await comp.check(url)
            verdict = "up"
        except ComponentError as exc:
            verdict = f"down: {exc}"
        return ComponentStatus(comp.name, url, None, verdict, True)
    record = current.components.get(comp.name)
    if record is None:
        return ComponentStatus(comp.name, "-", None, "down: not started", False)
    address = comp.display_address(record.url)
    if record.pid is None or not process.is_running(record.pid, record.marker):
        return ComponentStatus(
            comp.name, address, record.pid, f"down: process {record.pid} is not running", False
        )
    try:
        await asyncio.wait_for(comp.check(record.url), PROBE_TIMEOUT_S)
    except ComponentError as exc:
        return ComponentStatus(comp.name, address, record.pid, f"unhealthy: {exc}", False)
    except TimeoutError:
        verdict = f"unhealthy: no answer within {PROBE_TIMEOUT_S:.0f}s"
        return ComponentStatus(comp.name, address, record.pid, verdict, False)
    said: str | None = None
    with contextlib.suppress(TimeoutError):  # it answered its check: the rest waits
        said = await asyncio.wait_for(comp.health(record.url, record.pid), PROBE_TIMEOUT_S)
    verdict = said or "up"
    return ComponentStatus(comp.name, address, record.pid, verdict, False)


async def start(
    settings: Settings,
    components: Sequence[Component] | None = None,
    report: Report = _silent,
) -> tuple[list[ComponentStatus], list[str]]:
    """Start every embedded component that is not up; return the statuses and who was started."""
    comps = list(components or all_components(settings))
    with state.exclusive(settings.data_dir):
        current = state.load(settings.data_dir)
        before = {s.name: s for s in await asyncio.gather(*(_probe(c, current) for c in comps))}
        down_external = [before[c.name] for c in comps if not c.embedded and not before[c.name].up]
        if down_external:
            reasons = "; ".join(f"{s.name} ({s.address}) is {s.status}" for s in down_external)
            raise PlatformError(f"a configured production server does not answer: {reasons}")
        started: list[Component] = []
        urls: dict[str, str] = {}
        try:
            # in waves: what a component needs (the hot path needs Redis) answers before it starts
            for wave in sorted({c.wave for c in comps}):
                members = [c for c in comps if c.wave == wave]
                fresh: list[Component] = []
                for comp in members:
                    if before[comp.name].up or not comp.embedded:
                        continue
                    if started and await _finds_again(comp, current):
                        report(f"{comp.name}: answers again now that what it needs is back")
                        continue
                    current.components[comp.name] = _replace(comp, current, urls, report)
                    fresh.append(comp)
                    started.append(comp)
                state.save(settings.data_dir, current)
                await asyncio.gather(*(_wait_healthy(c, current.components[c.name]) for c in fresh))
                # idempotent (schemas, migrations), so a newer release upgrades a running platform
                for comp in members:
                    url = current.components[comp.name].url if comp.embedded else comp.external_url
                    await comp.initialise(url or "")
                    urls[comp.name] = url or ""
        except Exception:
            _stop_records([current.components[c.name] for c in reversed(started)], comps)
            for comp in started:
                current.components.pop(comp.name, None)
            state.save(settings.data_dir, current)
            raise
        after = await asyncio.gather(*(_probe(c, current) for c in comps))
    return list(after), [c.name for c in started]


async def _finds_again(comp: Component, current: PlatformState) -> bool:
    """A live process whose check asks another server too (a worker's Temporal, the API's
    readiness) failed it while a server it needs was down; that server was restarted just
    now. It reconnects by itself: restarting it would only cut what it holds (sessions,
    running activities). True once it answers again within `REJOIN_S`."""
    record = current.components.get(comp.name)
    if comp.restart_when_unhealthy or record is None or record.pid is None:
        return False
    deadline = time.monotonic() + REJOIN_S
    while process.is_running(record.pid, record.marker) and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(comp.check(record.url), PROBE_TIMEOUT_S)
            return True
        except (ComponentError, TimeoutError):
            await asyncio.sleep(0.5)
    return False


def _replace(
    comp: Component, current: PlatformState, urls: Mapping[str, str], report: Report
) -> ComponentRecord:
    """Start `comp`; a process of ours that is alive but does not answer is stopped first,
    never left running beside its replacement."""
    record = current.components.get(comp.name)
    if record is not None and record.pid and process.is_running(record.pid, record.marker):
        report(f"{comp.name}: pid {record.pid} does not answer, restarting it")
        process.stop(record.pid, comp.stop_signal, STOP_TIMEOUT_S)
    fresh = _spawn(comp, urls)
    report(f"{comp.name}: started (pid {fresh.pid})")
    return fresh


def _spawn(comp: Component, urls: Mapping[str, str]) -> ComponentRecord:
    spec, url, marker = comp.prepare(urls)
    pid = process.spawn(spec)
    return ComponentRecord(
        name=comp.name,
        pid=pid,
        address=comp.display_address(url),
        url=url,
        marker=marker,
        log=str(spec.log_path),
    )


async def _wait_healthy(comp: Component, record: ComponentRecord) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not process.is_running(record.pid, record.marker):
            raise PlatformError(
                f"{comp.name} exited during start-up; its log says:\n{_tail(record.log)}"
            )
        try:
            await comp.check(record.url)
            return
        except ComponentError as exc:
            last = str(exc)
        await asyncio.sleep(0.1)
    raise PlatformError(
        f"{comp.name} did not answer within {HEALTH_TIMEOUT_S:.0f}s ({last}); "
        f"its log says:\n{_tail(record.log)}"
    )


def _tail(log: str | None, lines: int = 15) -> str:
    if not log or not os.path.exists(log):
        return "(no log)"
    with open(log, errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


def stop(settings: Settings, components: Sequence[Component] | None = None) -> list[str]:
    """Stop every child `up` started, in reverse start order; the data stays."""
    comps = list(components or all_components(settings))
    with state.exclusive(settings.data_dir):
        current = state.load(settings.data_dir)
        records = [
            current.components[c.name] for c in reversed(comps) if c.name in current.components
        ]
        stopped = _stop_records(records, comps)
        for rec in records:
            current.components.pop(rec.name, None)
        state.save(settings.data_dir, current)
    return stopped


def _stop_records(records: Sequence[ComponentRecord], comps: Sequence[Component]) -> list[str]:
    """Stop them together: the stores do not depend on one another, so order buys nothing."""
    signals = {c.name: c.stop_signal for c in comps}
    running = [r for r in records if r.pid and process.is_running(r.pid, r.marker)]
    process.stop_all(
        [(r.pid, signals.get(r.name, signal.SIGTERM)) for r in running if r.pid], STOP_TIMEOUT_S
    )
    return [r.name for r in running]


async def supervise(
    settings: Settings,
    stop_event: asyncio.Event,
    components: Sequence[Component] | None = None,
    report: Report = _silent,
    interval_s: float = 1.0,
) -> None:
    """Keep the children alive until `stop_event` is set or another process runs `down`."""
    comps = list(components or all_components(settings))
    health = settings.health
    unwell: dict[str, float] = {}  # component -> since when it has not been well
    next_probe = time.monotonic() + health.probe_s
    while not stop_event.is_set():
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=interval_s)
            break
        except TimeoutError:
            pass
        process.reap_children()
        current = state.load(settings.data_dir)
        if not any(c.name in current.components for c in comps if c.embedded):
            report("the platform was stopped from elsewhere (aitp down)")
            return
        dead = [
            c.name
            for c in comps
            if c.embedded
            and c.name in current.components
            and not process.is_running(
                current.components[c.name].pid, current.components[c.name].marker
            )
        ]
        restart = bool(dead)
        if dead:
            report(f"{', '.join(dead)} stopped unexpectedly; restarting")
        elif time.monotonic() >= next_probe:
            next_probe = time.monotonic() + health.probe_s
            statuses = await status(settings, comps)
            stuck = _stuck_for_long(statuses, comps, unwell, health.stuck_after_s)
            # a restart that failed left the component unrecorded: it is tried again here
            missing = [c.name for c in comps if c.embedded and c.name not in current.components]
            if stuck or missing:
                why = [*stuck, *(f"{name} is not running" for name in missing)]
                report(f"{'; '.join(why)}; restarting")
                restart = True
        if restart:
            try:
                await start(settings, comps, report)
            except (PlatformError, ComponentError) as exc:
                report(f"restart failed: {exc}")
            unwell.clear()


def _stuck_for_long(
    statuses: Sequence[ComponentStatus],
    comps: Sequence[Component],
    unwell: dict[str, float],
    after_s: float,
) -> list[str]:
    """Embedded processes alive but stuck for `after_s` in a row, as "name is status for N s":
    those that say so, and those whose own check fails (see `restart_when_unhealthy`);
    `unwell` remembers since when each has been so."""
    restartable = {c.name for c in comps if c.restart_when_unhealthy}
    now = time.monotonic()
    out = []
    for s in statuses:
        stuck = s.status.startswith("stuck") or (
            s.status.startswith("unhealthy") and s.name in restartable
        )
        if s.external or not stuck:
            unwell.pop(s.name, None)
            continue
        since = unwell.setdefault(s.name, now)
        if now - since >= after_s:
            out.append(f"{s.name} is {s.status} for {now - since:.0f}s")
    return out


def install_signal_handlers(stop_event: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_event.set)
