"""API tokens: hashed at rest, bound to a user, expiring, revocable; throttled logins and requests; one
error shape for every error."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from projects.models import Project
from tests.api.conftest import body

pytestmark = pytest.mark.django_db


def _login(client: APIClient, username: str, password: str) -> Any:
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def _with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_is_stored_hashed_expires_and_is_revoked(users: dict[str, User], settings: Any) -> None:
    created = _login(APIClient(), "bob", "pw-bob")
    assert created.status_code == 201
    token = body(created)["token"]
    stored = AuthToken.objects.get(user=users["bob"])
    assert token not in (stored.digest, stored.token_key) and len(stored.digest) == 128  # sha512 hex only
    expiry = stored.expiry
    assert expiry is not None
    assert timedelta(days=29) < expiry - timezone.now() <= timedelta(days=settings.PAPERCAST_API_TOKEN_DAYS)
    client = _with(token)
    assert body(client.get("/api/v1/auth/me/"))["username"] == "bob"

    AuthToken.objects.filter(pk=stored.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    expired = client.get("/api/v1/auth/me/")
    assert expired.status_code == 401 and body(expired)["code"] == "authentication_failed"

    second = _with(body(_login(APIClient(), "bob", "pw-bob"))["token"])
    third = _with(body(_login(APIClient(), "bob", "pw-bob"))["token"])
    assert second.post("/api/v1/auth/logout/").status_code == 204
    assert second.get("/api/v1/auth/me/").status_code == 401  # revoked
    assert third.get("/api/v1/auth/me/").status_code == 200  # the others still work
    assert third.post("/api/v1/auth/logoutall/").status_code == 204
    assert third.get("/api/v1/auth/me/").status_code == 401
    assert not AuthToken.objects.filter(user=users["bob"]).exists()


def test_wrong_passwords_and_inactive_users_get_no_token(users: dict[str, User]) -> None:
    wrong = _login(APIClient(), "bob", "guess")
    assert wrong.status_code == 400 and body(wrong)["detail"] == "Wrong username or password."
    User.objects.filter(username="carol").update(is_active=False)
    assert _login(APIClient(), "carol", "pw-carol").status_code == 400
    assert not AuthToken.objects.exists()


def test_the_apitoken_command_prints_a_working_token_once(users: dict[str, User]) -> None:
    out = StringIO()
    call_command("apitoken", "bob", "--days", "2", stdout=out, stderr=StringIO())
    token = out.getvalue().strip()
    assert _with(token).get("/api/v1/auth/me/").status_code == 200
    expiry = AuthToken.objects.get(user=users["bob"]).expiry
    assert expiry is not None and expiry - timezone.now() < timedelta(days=2, minutes=1)
    call_command("apitoken", "bob", "--revoke", stdout=StringIO())
    assert _with(token).get("/api/v1/auth/me/").status_code == 401


def test_logins_and_requests_are_throttled(users: dict[str, User], project: Project, settings: Any) -> None:
    settings.PAPERCAST_API_LOGIN_RATE = "3/minute"
    codes = [_login(APIClient(), "bob", "guess").status_code for _ in range(5)]
    assert codes == [400, 400, 400, 429, 429]
    throttled = _login(APIClient(), "bob", "pw-bob")  # even the right password waits: it is the same client
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert body(throttled)["code"] == "throttled"

    settings.PAPERCAST_API_RATE = "5/minute"
    token = AuthToken.objects.create(user=users["carol"])[1]
    client = _with(token)
    statuses = [client.get("/api/v1/projects/").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2


def test_every_error_has_the_same_shape(api: dict[str, APIClient], project: Project) -> None:
    responses = [
        api["anonymous"].get("/api/v1/papers/"),
        api["bob"].get("/api/v1/papers/987654/"),
        api["bob"].post("/api/v1/papers/", {"title": ""}, format="json"),
        api["carol"].post("/api/v1/papers/", {"project": project.pk, "title": "T", "text": "x"}, format="json"),
        api["bob"].delete(f"/api/v1/projects/{project.pk}/"),
        api["bob"].post("/api/v1/papers/", "not json", content_type="application/json"),
        api["bob"].get("/api/v1/no-such-endpoint/"),
        api["bob"].get("/api/v1/papers/?page=99"),
    ]
    for response in responses:
        data = response.json()
        assert set(data) == {"status", "code", "detail", "errors"}, data
        assert data["status"] == response.status_code and data["detail"]
    invalid = responses[2].json()
    assert invalid["code"] == "invalid" and "project" in invalid["errors"]
    assert [r.status_code for r in responses] == [401, 404, 400, 403, 405, 400, 404, 404]
