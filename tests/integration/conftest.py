"""Workflow tests run against the trading stack of `tests.trading_stack`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import RunningPlatform
from tests.trading_stack import Stack, trading_stack


@pytest.fixture
async def stack(platform: RunningPlatform) -> AsyncIterator[Stack]:
    async with trading_stack(platform) as running:
        yield running
