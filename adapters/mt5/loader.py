"""Loading the MetaTrader5 API: the package on Windows, or a bridge to a terminal elsewhere.

On Linux the package does not install. `AITP_MT5__BRIDGE=host:port` points at an RPyC classic
server (the protocol mt5linux uses: `python -m rpyc.cli.rpyc_classic` run by the Windows or
Wine Python beside the terminal) and the module is used through it unchanged: the same
functions, the same result fields. Importing this module needs neither.
"""

from __future__ import annotations

import collections
import functools
import importlib
from typing import Any

BRIDGE_TIMEOUT_S = 30.0  # order_send waits for the trade server; longer means a lost reply


class Mt5UnavailableError(RuntimeError):
    pass


def load(bridge: str | None = None) -> Any:
    if bridge:
        return _through_bridge(bridge)
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError:
        raise Mt5UnavailableError(
            "the MetaTrader5 package runs on Windows only; on Linux set AITP_MT5__BRIDGE to a "
            "bridge (host:port) or trade with the paper broker"
        ) from None


def _through_bridge(bridge: str) -> Any:
    import rpyc

    host, _, port = bridge.rpartition(":")
    try:
        # Nagle's algorithm would hold each small request for the peer's delayed ACK (40 ms)
        stream = rpyc.SocketStream.connect(
            host or "localhost", int(port or 18812), nodelay=True, keepalive=True
        )
        connection = rpyc.classic.connect_stream(stream)
    except (OSError, ValueError) as exc:
        raise Mt5UnavailableError(
            f"cannot reach the MT5 bridge at {bridge!r} ({exc}); start the RPyC classic server "
            "beside the terminal or fix AITP_MT5__BRIDGE (host:port)"
        ) from None
    connection._config["sync_request_timeout"] = BRIDGE_TIMEOUT_S
    try:
        module = connection.modules["MetaTrader5"]
    except ImportError:
        connection.close()
        raise Mt5UnavailableError(
            f"the bridge at {bridge!r} has no MetaTrader5 package: pip install MetaTrader5 in "
            "the Python that serves it"
        ) from None
    return _Bridged(connection, module)


# Run inside the bridge: records (the terminal's named tuples) and tuples of them become
# plain tuples RPyC sends by value, tagged with their type's name and fields. Anything else
# (a numpy array of ticks) stays a remote proxy.
_PLAIN = """
def _aitp_plain(x):
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return ("__record__", type(x).__name__, tuple(x._fields), tuple(_aitp_plain(v) for v in x))
    if isinstance(x, (tuple, list)):
        return tuple(_aitp_plain(v) for v in x)
    return x
"""


class _Bridged:
    """The remote module, with arguments and results sent by value.

    The terminal's functions are C code that wants a real dict (`order_send`) or datetime
    (`history_deals_get`), not a proxy to one here, so such arguments are pickled across.
    Results come back as local named tuples with the same fields in one round trip, instead
    of proxies whose every field read would cross the wire again.
    """

    def __init__(self, connection: Any, module: Any) -> None:
        self._connection = connection
        self._module = module
        connection.execute(_PLAIN)
        self._plain = connection.eval("_aitp_plain")

    def disconnect(self) -> None:
        """Closes the bridge connection now rather than whenever it is collected (the module
        itself has no such call: `shutdown` is the terminal's)."""
        self._connection.close()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._module, name)
        if "__call__" not in dir(attr):  # callable() is True for any proxy to a list
            return attr
        from rpyc.core.brine import dumpable
        from rpyc.utils.classic import deliver

        def by_value(value: Any) -> Any:
            return value if dumpable(value) else deliver(self._connection, value)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*map(by_value, args), **{k: by_value(v) for k, v in kwargs.items()})
            return _local(self._plain(result))

        call.__name__ = name
        setattr(self, name, call)  # one look-up per function, not per call
        return call


@functools.cache
def _record_type(name: str, fields: tuple[str, ...]) -> Any:
    return collections.namedtuple(name, fields)


def _local(value: Any) -> Any:
    if type(value) is tuple:
        if len(value) == 4 and value[0] == "__record__":
            return _record_type(value[1], value[2])(*map(_local, value[3]))
        return tuple(map(_local, value))
    return value
