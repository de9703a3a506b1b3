"""Password guessing is limited on every login path (the admin's form, the browsable API's session login, the
API token login), per client address and per username, with X-Forwarded-For trusted only for the configured
proxies; and one user holds a bounded number of API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.api.conftest import body

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
SESSION_LOGIN = "/api/session/login/"
TOKEN_LOGIN = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    """The documented defaults, whatever the machine's environment says; the API's own per-address throttle
    is out of the way unless a test is about it."""
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.PAPERCAST_TRUSTED_PROXIES = 0
    settings.PAPERCAST_MAX_TOKENS_PER_USER = 20
    settings.PAPERCAST_API_LOGIN_RATE = "1000/minute"


def _form_login(path: str, username: str, password: str, **meta: str) -> tuple[Client, Any]:
    client = Client()
    response = client.post(path, {"username": username, "password": password, "next": "/admin/"}, **meta)
    return client, response


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _token_login(username: str, password: str, **meta: str) -> Any:
    return APIClient().post(TOKEN_LOGIN, {"username": username, "password": password}, format="json", **meta)


def test_it_refuses_the_right_admin_password_after_too_many_wrong_ones(users: dict[str, User]) -> None:
    for _ in range(6):
        _form_login(ADMIN_LOGIN, "bob", "guess")
    client, refused = _form_login(ADMIN_LOGIN, "bob", "pw-bob")
    assert refused.status_code == 429 and not _logged_in(client)
    assert "Too many failed logins" in refused.content.decode() and int(refused["Retry-After"]) == 15 * 60
    # Another user, from another address, is not affected.
    client, allowed = _form_login(ADMIN_LOGIN, "alice", "pw-alice", REMOTE_ADDR="10.0.0.9")
    assert allowed.status_code == 302 and _logged_in(client)


def test_it_counts_failures_per_username_across_addresses(users: dict[str, User]) -> None:
    for n in range(5):
        _form_login(ADMIN_LOGIN, "bob", "guess", REMOTE_ADDR=f"10.0.1.{n}")
    client, refused = _form_login(ADMIN_LOGIN, "bob", "pw-bob", REMOTE_ADDR="10.0.1.99")
    assert refused.status_code == 429 and not _logged_in(client)


def test_it_counts_failures_per_address_across_usernames(users: dict[str, User]) -> None:
    for name in ("bob", "carol", "mallory", "root", "admin"):
        _form_login(ADMIN_LOGIN, name, "guess", REMOTE_ADDR="10.0.2.1")
    client, refused = _form_login(ADMIN_LOGIN, "alice", "pw-alice", REMOTE_ADDR="10.0.2.1")
    assert refused.status_code == 429 and not _logged_in(client)
    client, allowed = _form_login(ADMIN_LOGIN, "alice", "pw-alice", REMOTE_ADDR="10.0.2.2")
    assert allowed.status_code == 302 and _logged_in(client)


def test_every_login_path_shares_the_count(users: dict[str, User]) -> None:
    for _ in range(2):
        _form_login(ADMIN_LOGIN, "bob", "guess")
    for _ in range(2):
        assert _token_login("bob", "guess").status_code == 400
    _form_login(SESSION_LOGIN, "bob", "guess")  # the fifth
    client, refused = _form_login(SESSION_LOGIN, "bob", "pw-bob")
    assert refused.status_code == 429 and not _logged_in(client)
    assert _token_login("bob", "pw-bob").status_code == 429
    assert not AuthToken.objects.exists()


def test_a_forged_x_forwarded_for_does_not_reset_the_count(users: dict[str, User]) -> None:
    for n, name in enumerate(("bob", "carol", "mallory", "root", "admin")):
        _form_login(ADMIN_LOGIN, name, "guess", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    client, refused = _form_login(ADMIN_LOGIN, "alice", "pw-alice", HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert refused.status_code == 429 and not _logged_in(client)


def test_the_api_throttle_ignores_a_forged_x_forwarded_for(users: dict[str, User], settings: Any) -> None:
    settings.PAPERCAST_API_LOGIN_RATE = "3/minute"
    codes = [_token_login(f"nobody{n}", "guess", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(4)]
    assert codes == [400, 400, 400, 429]


def test_behind_trusted_proxies_each_client_has_its_own_count(users: dict[str, User], settings: Any) -> None:
    settings.PAPERCAST_TRUSTED_PROXIES = 1
    proxy = {"REMOTE_ADDR": "10.9.9.9"}
    for n, name in enumerate(("bob", "carol", "mallory", "root", "admin")):
        # The client writes an address of its own before the one the proxy appends: only the proxy's counts.
        _form_login(ADMIN_LOGIN, name, "guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 192.0.2.1", **proxy)
    client, refused = _form_login(ADMIN_LOGIN, "alice", "pw-alice", HTTP_X_FORWARDED_FOR="192.0.2.1", **proxy)
    assert refused.status_code == 429 and not _logged_in(client)
    client, allowed = _form_login(ADMIN_LOGIN, "alice", "pw-alice", HTTP_X_FORWARDED_FOR="192.0.2.2", **proxy)
    assert allowed.status_code == 302 and _logged_in(client)


def test_a_locked_out_token_login_answers_in_the_api_error_shape(users: dict[str, User]) -> None:
    answers = [_token_login("bob", "guess") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [400, 400, 400, 400, 429]
    refused = _token_login("bob", "pw-bob")
    assert refused.status_code == 429 and refused["Content-Type"] == "application/json"
    assert int(refused["Retry-After"]) == 15 * 60
    error = body(refused)
    assert error["status"] == 429 and error["code"] == "locked_out" and error["errors"] == {}
    assert error["detail"].startswith("Too many failed logins for this user or from this address: try again in 15")
    assert not AuthToken.objects.exists()


def test_it_caps_the_tokens_a_user_holds(users: dict[str, User]) -> None:
    bob = users["bob"]
    for _ in range(19):
        AuthToken.objects.create(user=bob)
    assert _token_login("bob", "pw-bob").status_code == 201  # the 20th
    refused = _token_login("bob", "pw-bob")
    assert refused.status_code == 403
    assert body(refused)["code"] == "too_many_tokens" and "the most one user may have (20)" in body(refused)["detail"]
    assert AuthToken.objects.filter(user=bob).count() == 20
    assert _token_login("alice", "pw-alice").status_code == 201  # per user
    # An expired token no longer counts, a revoked one is gone.
    AuthToken.objects.filter(pk=AuthToken.objects.filter(user=bob).first().pk).update(  # type: ignore[union-attr]
        expiry=timezone.now() - timedelta(seconds=1)
    )
    created = _token_login("bob", "pw-bob")
    assert created.status_code == 201
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body(created)['token']}")
    assert _token_login("bob", "pw-bob").status_code == 403
    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert _token_login("bob", "pw-bob").status_code == 201
