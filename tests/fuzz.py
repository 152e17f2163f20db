"""Property-based fuzzing of a served app's OpenAPI spec (schemathesis, a test-only dependency)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def fuzz_every_route(app, *, max_examples: int = 25, expect: set[str] = frozenset()) -> set[str]:
    """Run schemathesis' default checks on every operation of ``app``: no 5xx, responses as
    documented (one error shape), schema-valid requests accepted, invalid ones rejected.
    Returns the fuzzed paths (callers assert their routes are among them)."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    with TestClient(app):  # the lifespan runs: batchers started, drained at the end
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        paths = {op.path for op in operations}
        assert paths >= set(expect), paths
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case):
                case.call_and_validate()

            check()
    return paths
