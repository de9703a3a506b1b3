"""/api/v1/projects. Every queryset comes from projects.access: a non-member gets 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets

from projects import access
from projects.api.serializers import ProjectSerializer
from projects.models import Project


def require_editor(user: Any, project_id: int) -> None:
    if not access.can_edit(user, project_id):
        raise exceptions.PermissionDenied("Your role in this project does not allow changes (editor or owner needed).")


@extend_schema_view(list=extend_schema(tags=["projects"]), retrieve=extend_schema(tags=["projects"]))
class ProjectViewSet(viewsets.ReadOnlyModelViewSet):
    """The projects you are a member of, with your role in each."""

    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return access.projects_visible_to(self.request.user).order_by("name", "id")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "roles": access.roles_of(self.request.user)}
