"""The served OpenAPI schema, fuzzed by schemathesis against the app: no 500s, and every response (errors
included) matches the schema. A fixed seed and a bounded number of examples per operation keep it
repeatable and quick."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from knox.models import AuthToken
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from media_pipeline.models import Video
from tests.api.conftest import body

pytestmark = pytest.mark.django_db

EXAMPLES = 20  # per operation and mode
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]


@pytest.fixture
def api_schema(settings: Any, db: None) -> Iterator[Any]:
    settings.PAPERCAST_API_RATE = "1000000/minute"  # the fuzzer is one very busy client
    settings.PAPERCAST_API_LOGIN_RATE = "1000000/minute"
    settings.PAPERCAST_QUEUE_SYNC = False  # a started pipeline is queued, not run inside the request
    # As Django's test client does: a finished request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(operation: Any, mode: GenerationMode, user: User, ids: dict[str, int], seen: Counter[int]) -> None:
    resource = operation.path.split("/")[3]

    @hypothesis.seed(20261201)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        # Half the cases address objects that exist (bob's), the rest whatever ids were generated.
        identifier = case.path_parameters.get("id") if case.path_parameters else None
        if isinstance(identifier, int) and identifier % 2 == 0 and resource in ids:
            case.path_parameters["id"] = ids[resource]
        token = AuthToken.objects.create(user=user)[1]  # a fresh one: a fuzzed logout revokes the last
        response = case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
        seen[response.status_code] += 1

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # An operation with no parameters and no body has no invalid input to make.


def test_every_response_matches_the_schema(api_schema: Any, users: dict[str, User], approved_video: Video) -> None:
    ids = {"papers": approved_video.paper_id, "videos": approved_video.pk, "projects": approved_video.paper.project_id}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.method.upper()} {operation.path} ({mode.value})"
            statuses[label] = Counter()
            try:
                _fuzz(operation, mode, users["bob"], ids, statuses[label])
            except (Exception, BaseExceptionGroup) as exc:  # every operation is tried; failures are reported together
                failures.append(f"{label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # The fuzzer got past authentication and routing into every operation's own logic.
    summary = json.dumps({label: dict(seen) for label, seen in statuses.items()}, indent=1)
    for label, seen in statuses.items():
        if "(positive)" in label:
            assert set(seen) - {401, 404}, f"{label} never reached the view:\n{summary}"


def test_the_schema_and_its_docs_are_served(client: Any) -> None:
    served = client.get("/api/schema/?format=json")
    assert served.status_code == 200
    paths = served.json()["paths"]
    for path in ("/api/v1/videos/", "/api/v1/videos/{id}/claim/", "/api/v1/papers/{id}/pipeline/"):
        assert path in paths, path
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    # The Swagger UI is served from this server (drf-spectacular-sidecar), not a CDN the browser may not reach.
    assert b"cdn.jsdelivr.net" not in docs.content
    assert body(client.get("/api/v1/videos/"))["status"] == 401
