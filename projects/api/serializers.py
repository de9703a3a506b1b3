"""Projects as the API shows them, with the caller's role in each."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from projects.models import Project, Role


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in the project: owner, editor or viewer.")

    class Meta:
        model = Project
        fields = [
            "id", "slug", "name", "role", "video_width", "video_height", "render_mode", "max_scene_seconds",
            "youtube_category_id", "youtube_privacy", "youtube_language", "youtube_tags", "youtube_made_for_kids",
            "youtube_synthetic_media", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices))
    def get_role(self, project: Project) -> str:
        roles = self.context.get("roles")
        if roles is None:  # superusers act as owners everywhere
            return str(Role.OWNER)
        return str(roles.get(project.pk, ""))
