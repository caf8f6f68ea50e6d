"""Loading the MetaTrader5 API: the package on Windows, or a bridge (mt5linux-style RPyC).

On Linux the package does not install; `AITP_MT5__BRIDGE=host:port` points at a bridge that
serves the same API from a Windows or Wine terminal. Importing this module never needs either.
"""

from __future__ import annotations

import importlib
from typing import Any


class Mt5UnavailableError(RuntimeError):
    pass


def load(bridge: str | None = None) -> Any:
    if bridge:
        host, _, port = bridge.rpartition(":")
        try:
            mt5linux = importlib.import_module("mt5linux")
        except ImportError:
            raise Mt5UnavailableError(
                "AITP_MT5__BRIDGE is set but the bridge client is missing: pip install mt5linux"
            ) from None
        return mt5linux.MetaTrader5(host=host or "localhost", port=int(port or 18812))
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError:
        raise Mt5UnavailableError(
            "the MetaTrader5 package runs on Windows only; on Linux set AITP_MT5__BRIDGE to a "
            "bridge (host:port) or trade with the paper broker"
        ) from None
