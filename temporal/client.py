"""One way to reach Temporal: the pydantic data converter, the namespace, and Cloud's options.

Nothing here connects at import time; `connect` is called from a main() or a lifespan.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from config.settings import TemporalSettings


async def connect(address: str, settings: TemporalSettings, metrics_port: int = 0) -> Client:
    """A client; with `metrics_port`, its runtime serves Prometheus metrics on loopback: the
    SDK's own (task latencies, slots, polls) and those workflows and activities count."""
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    runtime = None
    if metrics_port:
        prometheus = PrometheusConfig(bind_address=f"127.0.0.1:{metrics_port}")
        runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus))
    return await Client.connect(
        address,
        namespace=settings.namespace,
        api_key=api_key,
        tls=settings.tls or api_key is not None,  # Temporal Cloud's API keys need TLS
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
