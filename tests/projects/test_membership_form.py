"""An owner adds a member by naming their account exactly (username or e-mail): the project admin never lists
the site's accounts, which would tell any staff user who owns a project who else has one."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files import File
from django.test import Client

from projects.models import Membership, Project, Role

pytestmark = pytest.mark.django_db

NO_ACCOUNT = "No account with that username or e-mail."


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _value(bound: Any) -> Any:
    value = bound.value()
    if isinstance(value, bool):
        return "on" if value else None
    if value is None or isinstance(value, File):
        return None  # no file is posted back
    return value


def _posted(page: Any) -> dict[str, Any]:
    """The project change page's forms (the project and its members) as a browser would post them back."""
    data: dict[str, Any] = {}
    form = page.context["adminform"].form
    for name in form.fields:
        value = _value(form[name])
        if value is not None:
            data[name] = value
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for member_form in formset.forms:
            for name in member_form.fields:
                value = _value(member_form[name])
                if value is not None:
                    data[member_form.add_prefix(name)] = value
    return data


def _add_member(data: dict[str, Any], user: str, role: str = "viewer") -> dict[str, Any]:
    index = int(data["memberships-TOTAL_FORMS"])
    return {
        **data,
        "memberships-TOTAL_FORMS": index + 1,
        f"memberships-{index}-user": user,
        f"memberships-{index}-role": role,
    }


@pytest.fixture
def dave(users: dict[str, User]) -> User:
    return User.objects.create_user("dave", email="Dave.Hill@example.org", is_staff=True)


def test_the_project_page_lists_no_accounts_but_shows_each_members_user(
    users: dict[str, User], project: Project, dave: User
) -> None:
    page = _client(users["alice"]).get(f"/admin/projects/project/{project.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "mallory" not in html and "dave" not in html.lower()  # accounts outside the project stay unnamed
    members = page.context["inline_admin_formsets"][0].formset.forms
    assert sorted(f["user"].value() for f in members) == ["alice", "bob", "carol"]
    for name in ("alice", "bob", "carol"):
        assert f'value="{name}"' in html


def test_an_owner_adds_a_member_by_exact_username_or_e_mail(
    users: dict[str, User], project: Project, dave: User
) -> None:
    alice = _client(users["alice"])
    url = f"/admin/projects/project/{project.pk}/change/"

    by_name = alice.post(url, _add_member(_posted(alice.get(url)), "mallory", "editor"))
    assert by_name.status_code == 302, by_name.content.decode()[:3000]
    assert Membership.objects.get(project=project, user=users["mallory"]).role == Role.EDITOR

    by_email = alice.post(url, _add_member(_posted(alice.get(url)), "  dave.hill@EXAMPLE.org "))
    assert by_email.status_code == 302, by_email.content.decode()[:3000]
    assert Membership.objects.get(project=project, user=dave).role == Role.VIEWER
    # The members already there were posted back by name and kept as they were.
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"alice": "owner", "bob": "editor", "carol": "viewer", "mallory": "editor", "dave": "viewer"}


@pytest.mark.parametrize("named", ["nobody", "mal", "Mallory", "mallory@example.org", "dave@example"])
def test_a_name_that_is_not_exactly_one_account_is_refused(
    users: dict[str, User], project: Project, dave: User, named: str
) -> None:
    alice = _client(users["alice"])
    url = f"/admin/projects/project/{project.pk}/change/"
    refused = alice.post(url, _add_member(_posted(alice.get(url)), named))
    assert refused.status_code == 200
    assert NO_ACCOUNT in refused.content.decode()
    assert "mallory" not in refused.content.decode().replace(named, "")  # nothing suggests a real account
    assert Membership.objects.filter(project=project).count() == 3


def test_an_inactive_account_or_one_of_two_sharing_an_e_mail_cannot_be_named(
    users: dict[str, User], project: Project, dave: User
) -> None:
    User.objects.create_user("dave2", email="dave.hill@example.org")
    User.objects.create_user("gone", is_active=False)
    alice = _client(users["alice"])
    url = f"/admin/projects/project/{project.pk}/change/"
    for named in ("gone", "dave.hill@example.org"):
        refused = alice.post(url, _add_member(_posted(alice.get(url)), named))
        assert refused.status_code == 200 and NO_ACCOUNT in refused.content.decode(), named
    assert Membership.objects.filter(project=project).count() == 3
    assert alice.post(url, _add_member(_posted(alice.get(url)), "dave")).status_code == 302  # the username works


def test_a_member_whose_account_was_deactivated_is_kept_when_the_project_is_saved(
    users: dict[str, User], project: Project
) -> None:
    User.objects.filter(pk=users["carol"].pk).update(is_active=False)
    alice = _client(users["alice"])
    url = f"/admin/projects/project/{project.pk}/change/"
    data = _posted(alice.get(url))
    assert "carol" in data.values()
    saved = alice.post(url, {**data, "name": "Bees, renamed"})
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert Membership.objects.filter(project=project, user=users["carol"], role=Role.VIEWER).exists()


def test_the_membership_add_page_takes_an_exact_name_too(users: dict[str, User], project: Project, dave: User) -> None:
    alice = _client(users["alice"])
    page = alice.get("/admin/projects/membership/add/")
    assert page.status_code == 200
    assert "mallory" not in page.content.decode() and "dave" not in page.content.decode().lower()
    refused = alice.post("/admin/projects/membership/add/", {"project": project.pk, "user": "dav", "role": "viewer"})
    assert refused.status_code == 200 and NO_ACCOUNT in refused.content.decode()
    added = alice.post("/admin/projects/membership/add/", {"project": project.pk, "user": "dave", "role": "viewer"})
    assert added.status_code == 302
    assert Membership.objects.get(project=project, user=dave).role == Role.VIEWER
