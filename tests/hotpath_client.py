"""Talking to a hot path as the workflows do: start it, send commands, read its replies."""

from __future__ import annotations

import asyncio
import os
import sys

import orjson
import redis.asyncio as aioredis

from adapters.redis.event_bus import RedisStreamBus
from domain.messages import Command, commands_stream, encode, replies_stream
from tests.conftest import REPO


def hotpath_env(**settings: str) -> dict[str, str]:
    """This environment without the developer's AITP_* variables, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
    return env | {f"AITP_{name.upper()}": value for name, value in settings.items()}


async def start_hotpath(
    env: dict[str, str], *args: str, capture: bool = False
) -> asyncio.subprocess.Process:
    output = asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hotpath",
        *args,
        cwd=REPO,
        env=env,
        stdout=output,
        stderr=asyncio.subprocess.STDOUT if capture else output,
    )


async def send_command(
    bus: RedisStreamBus, account: str, command_id: str, command: Command
) -> None:
    await bus.publish(commands_stream(account), encode(command, command_id))


async def send_raw(
    bus: RedisStreamBus, account: str, command_id: str, kind: str, data: dict[str, object]
) -> None:
    """A command as a careless sender might write it: for the tests of the reader."""
    fields = {"type": kind, "v": "1", "id": command_id, "data": orjson.dumps(data)}
    await bus.publish(commands_stream(account), fields)


async def all_replies(client: aioredis.Redis, account: str) -> dict[str, list[dict[str, object]]]:
    """Every reply on the account's reply stream, by command id, in order."""
    out: dict[str, list[dict[str, object]]] = {}
    for _, fields in await client.xrange(replies_stream(account)):
        out.setdefault(fields[b"id"].decode(), []).append(orjson.loads(fields[b"reply"]))
    return out


async def wait_reply(
    client: aioredis.Redis, account: str, command_id: str, seconds: float = 30
) -> dict[str, object]:
    for _ in range(int(seconds / 0.05)):
        got = (await all_replies(client, account)).get(command_id)
        if got:
            return got[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply to {command_id} within {seconds}s")
