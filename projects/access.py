"""Who may see and change what. Every queryset a user can reach is built here.

Rules: superusers see everything. A member sees their projects and everything in them; editors and owners
may change content; only owners manage members. A non-member is told nothing: lookups raise Http404 exactly
as for an id that does not exist. A member without the needed role gets PermissionDenied (403).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from projects.models import Membership, Paper, Project, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    AnyUser = User | AnonymousUser

_M = TypeVar("_M", bound=Model)

_WRITE_ROLES = (Role.OWNER, Role.EDITOR)


def _is_superuser(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def _is_member_capable(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def _user_id(user: AnyUser) -> int:
    # Only called once the user is known to be authenticated, so it has a primary key.
    return int(user.pk or 0)


def projects_visible_to(user: AnyUser) -> QuerySet[Project]:
    if _is_superuser(user):
        return Project.objects.all()
    if not _is_member_capable(user):
        return Project.objects.none()
    return Project.objects.filter(memberships__user_id=_user_id(user)).distinct()


def projects_editable_by(user: AnyUser) -> QuerySet[Project]:
    if _is_superuser(user):
        return Project.objects.all()
    if not _is_member_capable(user):
        return Project.objects.none()
    return Project.objects.filter(memberships__user_id=_user_id(user), memberships__role__in=_WRITE_ROLES).distinct()


def projects_managed_by(user: AnyUser) -> QuerySet[Project]:
    """Projects whose members the user manages (owners; superusers manage all)."""
    if _is_superuser(user):
        return Project.objects.all()
    if not _is_member_capable(user):
        return Project.objects.none()
    return Project.objects.filter(memberships__user_id=_user_id(user), memberships__role=Role.OWNER).distinct()


def users_choosable_by(user: AnyUser) -> QuerySet[Any]:
    """People a user may name in a form (a new member): active accounts; none for the anonymous."""
    from django.contrib.auth import get_user_model

    if not _is_member_capable(user):
        return get_user_model().objects.none()
    return get_user_model().objects.filter(is_active=True).order_by("username")


def user_named(user: AnyUser, text: str) -> Any | None:
    """The account a user names in a form (a new member): the active one whose username is exactly `text`,
    else the one whose e-mail it is (ignoring case) when exactly one has it; None otherwise.

    Exact matches only, and one account at most: who has an account on the site is nobody's business but the
    operator's, so no form lists accounts or completes a partial name.
    """
    from django.contrib.auth import get_user_model

    text = text.strip()
    if not text:
        return None
    accounts = users_choosable_by(user)
    found = accounts.filter(**{get_user_model().USERNAME_FIELD: text}).first()
    if found is None and "@" in text:
        by_email = list(accounts.filter(email__iexact=text)[:2])
        found = by_email[0] if len(by_email) == 1 else None
    return found


def project_ids_visible_to(user: AnyUser) -> QuerySet[Membership, Any] | None:
    """A subquery of visible project ids, or None for 'all' (superusers)."""
    if _is_superuser(user):
        return None
    if not _is_member_capable(user):
        return Membership.objects.none().values("project_id")
    return Membership.objects.filter(user_id=_user_id(user)).values("project_id")


def papers_visible_to(user: AnyUser) -> QuerySet[Paper]:
    return visible_through_project(Paper.objects.all(), user, "project_id")


def visible_through_project(queryset: QuerySet[_M], user: AnyUser, project_path: str) -> QuerySet[_M]:
    """Any model's rows that the user may see, reached from the row to its Project by `project_path`.

    For the apps built on projects (their scenes, videos, runs): the rule stays here, where the models that
    follow it need not be known.
    """
    ids = project_ids_visible_to(user)
    return queryset if ids is None else queryset.filter(**{f"{project_path}__in": ids})


def roles_of(user: AnyUser) -> dict[int, Role] | None:
    """The user's role in each of their projects, in one query; None for superusers (owners of all)."""
    if _is_superuser(user):
        return None
    if not _is_member_capable(user):
        return {}
    return {
        pid: Role(role)
        for pid, role in Membership.objects.filter(user_id=_user_id(user)).values_list("project_id", "role")
    }


def role_in(user: AnyUser, project_id: int) -> Role | None:
    """The user's role in the project; superusers count as owners; None for non-members."""
    if _is_superuser(user):
        return Role.OWNER
    if not _is_member_capable(user):
        return None
    role = (
        Membership.objects.filter(user_id=_user_id(user), project_id=project_id).values_list("role", flat=True).first()
    )
    return Role(role) if role else None


def can_view(user: AnyUser, project_id: int) -> bool:
    return role_in(user, project_id) is not None


def can_edit(user: AnyUser, project_id: int) -> bool:
    return role_in(user, project_id) in _WRITE_ROLES


def can_manage_members(user: AnyUser, project_id: int) -> bool:
    return role_in(user, project_id) == Role.OWNER


def paper_for(user: AnyUser, paper_id: int, *, write: bool = False) -> Paper:
    """The paper if the user may see it (and change it, with write=True).

    Raises Http404 for a non-member exactly as for a missing id, PermissionDenied for a viewer writing.
    """
    try:
        paper = papers_visible_to(user).select_related("project").get(pk=paper_id)
    except Paper.DoesNotExist:
        raise Http404("No paper matches the given query.") from None
    if write and not can_edit(user, paper.project_id):
        raise PermissionDenied("Your role in this project does not allow changes.")
    return paper
