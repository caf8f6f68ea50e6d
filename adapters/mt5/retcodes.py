"""Every documented MT5 trade retcode, and what the platform does about it.

MT5 does not de-duplicate orders, so an unknown outcome is never treated as a failure: no
reply at all, a generic error, a time-out, a lost connection, or an IPC error between Python
and the terminal all make the order UNRESOLVED, and it is looked up at the broker before
anything is sent again.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    DONE = "done"  # placed or executed
    RETRY_PRICE = "retry_price"  # send again with a fresh price
    BACK_OFF = "back_off"  # send again later
    UNKNOWN = "unknown"  # may or may not have happened: reconcile before anything else
    REJECT = "reject"  # final


# TRADE_RETCODE_* from the MQL5 reference, value -> name
RETCODES: dict[int, str] = {
    10004: "REQUOTE",
    10006: "REJECT",
    10007: "CANCEL",
    10008: "PLACED",
    10009: "DONE",
    10010: "DONE_PARTIAL",
    10011: "ERROR",
    10012: "TIMEOUT",
    10013: "INVALID",
    10014: "INVALID_VOLUME",
    10015: "INVALID_PRICE",
    10016: "INVALID_STOPS",
    10017: "TRADE_DISABLED",
    10018: "MARKET_CLOSED",
    10019: "NO_MONEY",
    10020: "PRICE_CHANGED",
    10021: "PRICE_OFF",
    10022: "INVALID_EXPIRATION",
    10023: "ORDER_CHANGED",
    10024: "TOO_MANY_REQUESTS",
    10025: "NO_CHANGES",
    10026: "SERVER_DISABLES_AT",
    10027: "CLIENT_DISABLES_AT",
    10028: "LOCKED",
    10029: "FROZEN",
    10030: "INVALID_FILL",
    10031: "CONNECTION",
    10032: "ONLY_REAL",
    10033: "LIMIT_ORDERS",
    10034: "LIMIT_VOLUME",
    10035: "INVALID_ORDER",
    10036: "POSITION_CLOSED",
    10038: "INVALID_CLOSE_VOLUME",
    10039: "CLOSE_ORDER_EXIST",
    10040: "LIMIT_POSITIONS",
    10041: "REJECT_CANCEL",
    10042: "LONG_ONLY",
    10043: "SHORT_ONLY",
    10044: "CLOSE_ONLY",
    10045: "FIFO_CLOSE",
    10046: "HEDGE_PROHIBITED",
}

# last_error() codes of the Python <-> terminal link
IPC_ERRORS: dict[int, str] = {
    -10001: "IPC send failed",
    -10002: "IPC receive failed",
    -10003: "IPC initialisation failed",
    -10004: "IPC connection failed",
    -10005: "IPC time-out",
}

_DONE = {10008, 10009, 10010, 10025}
_RETRY_PRICE = {10004, 10020, 10021}
_BACK_OFF = {10024, 10028, 10029}
_UNKNOWN = {10011, 10012, 10031}


def classify(retcode: int | None, last_error: int | None = None) -> Outcome:
    """`retcode` of an OrderSendResult, or None when order_send returned nothing."""
    if retcode is None:
        return Outcome.UNKNOWN  # no reply: whatever last_error says, the order may exist
    if retcode in _DONE:
        return Outcome.DONE
    if retcode in _RETRY_PRICE:
        return Outcome.RETRY_PRICE
    if retcode in _BACK_OFF:
        return Outcome.BACK_OFF
    if retcode in _UNKNOWN or retcode in IPC_ERRORS:
        return Outcome.UNKNOWN
    return Outcome.REJECT


def describe(retcode: int | None, last_error: int | None = None) -> str:
    if retcode is None:
        ipc = IPC_ERRORS.get(last_error or 0, f"last_error {last_error}")
        return f"no reply from the terminal ({ipc})"
    return f"retcode {retcode} ({RETCODES.get(retcode) or IPC_ERRORS.get(retcode, 'undocumented')})"
