"""Search-attribute keys: defined once, registered by the embedded server, set by workflows.

Ops find every decision, order and backtest in the Temporal UI by these names, so a name
here is part of the platform's interface to people, not an implementation detail.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ACCOUNT = SearchAttributeKey.for_keyword("Account")
SYMBOL = SearchAttributeKey.for_keyword("Symbol")
STRATEGY = SearchAttributeKey.for_keyword("Strategy")
TENANT = SearchAttributeKey.for_keyword("Tenant")
DECISION = SearchAttributeKey.for_keyword("Decision")
ORDER_STATE = SearchAttributeKey.for_keyword("OrderState")
CLIENT_ORDER_ID = SearchAttributeKey.for_keyword("ClientOrderId")
MODE = SearchAttributeKey.for_keyword("Mode")
STATUS = SearchAttributeKey.for_keyword("Status")

ALL: tuple[SearchAttributeKey[str], ...] = (
    ACCOUNT,
    SYMBOL,
    STRATEGY,
    TENANT,
    DECISION,
    ORDER_STATE,
    CLIENT_ORDER_ID,
    MODE,
    STATUS,
)
