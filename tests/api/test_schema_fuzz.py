"""schemathesis against the API's own OpenAPI document, as tenant a's admin (the widest
tenant role): whatever the generated input, no 5xx, and every answer matches the document
(problem+json included)."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.app import create_app
from config.settings import Settings

schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(
    # signing out would revoke the token every other case runs with
    path="/auth/logout"
)

pytestmark = pytest.mark.slow


@schema.parametrize()
@hypothesis.settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)
def test_no_input_makes_the_api_fail_or_break_its_schema(
    case: schemathesis.Case, api_process: str, tokens: dict[tuple[str, str], str]
) -> None:
    case.call_and_validate(
        base_url=api_process,
        headers={"Authorization": f"Bearer {tokens['a', 'admin']}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
