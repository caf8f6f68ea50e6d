"""One way to reach Temporal: the pydantic data converter, the namespace, and Cloud's options.

Nothing here connects at import time; `connect` is called from a main() or a lifespan.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from config.settings import TemporalSettings


async def connect(address: str, settings: TemporalSettings) -> Client:
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return await Client.connect(
        address,
        namespace=settings.namespace,
        api_key=api_key,
        tls=settings.tls or api_key is not None,  # Temporal Cloud's API keys need TLS
        data_converter=pydantic_data_converter,
    )
