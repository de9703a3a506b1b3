"""Projects and papers as the API shows them, and the papers the API creates."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from media_pipeline.models import RunStatus, Stage
from media_pipeline.selectors import pipeline_state
from projects import access
from projects.models import Paper, Project, Role


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


STAGE_STATUSES = [*RunStatus.choices, ("not_started", "Not started")]
PIPELINE_STATUSES = [
    ("new", "New"),
    ("pending", "Pending"),
    ("running", "Running"),
    ("failed", "Failed"),
    ("partial", "Partial"),
    ("succeeded", "Succeeded"),
]


class StageStateSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    status = serializers.ChoiceField(choices=STAGE_STATUSES)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    attempts = serializers.IntegerField(min_value=0)
    error = serializers.CharField(allow_blank=True)
    seconds = serializers.FloatField(allow_null=True)
    reused = serializers.BooleanField(help_text="The outputs were current; no engine was called.")


class PipelineStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PIPELINE_STATUSES, help_text="Derived from the newest run of each stage.")
    active = serializers.BooleanField(help_text="A stage is pending or running.")
    stages = StageStateSerializer(many=True)


class PaperSerializer(serializers.ModelSerializer):
    pipeline = serializers.SerializerMethodField()
    video = serializers.SerializerMethodField(help_text="The id of the paper's newest video, if any.")
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Paper
        fields = [
            "id", "project", "title", "description", "source_kind", "source_filename", "arxiv_id", "authors",
            "abstract", "script_minutes", "curation_status", "pipeline", "video", "created_by", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(PipelineStateSerializer)
    def get_pipeline(self, paper: Paper) -> dict[str, Any]:
        return pipeline_state(paper)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_video(self, paper: Paper) -> int | None:
        videos = getattr(paper, "videos_newest_first", None)
        if videos is None:
            newest = paper.videos.order_by("-created_at", "-id").values_list("pk", flat=True).first()
            return int(newest) if newest is not None else None
        return int(videos[0].pk) if videos else None


SOURCES = ("text", "text_file", "audio", "pdf", "arxiv_id")


class PaperCreateSerializer(serializers.Serializer):
    """A paper from typed text (JSON), or from an uploaded text or audio file (multipart): exactly one of them."""

    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.none(), help_text="The project's id.")
    title = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default="", help_text="Optional for a PDF or arXiv paper."
    )
    description = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    text = serializers.CharField(
        required=False, trim_whitespace=False, help_text="The text to narrate (UTF-8), typed in."
    )
    text_file = serializers.FileField(required=False, help_text="A UTF-8 text or Markdown file to narrate.")
    audio = serializers.FileField(
        required=False, help_text="Narration that exists already: WAV, FLAC, MP3, M4A/AAC, Ogg or WebM."
    )
    pdf = serializers.FileField(required=False, help_text="The paper as a PDF: read, scripted and narrated.")
    arxiv_id = serializers.CharField(
        required=False, max_length=64, help_text="An arXiv identifier such as 2202.08906 or hep-th/9901001 (no URL)."
    )
    script_minutes = serializers.IntegerField(
        required=False, min_value=1, max_value=60, help_text="PDF and arXiv papers: the narration's length."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        # Another team's project is "does not exist", exactly like a missing id.
        visible = access.projects_visible_to(request.user) if request is not None else Project.objects.none()
        self.fields["project"].queryset = visible  # type: ignore[attr-defined]

    def validate_arxiv_id(self, value: str) -> str:
        from media_pipeline.backends.arxiv import parse_arxiv_id

        try:
            return str(parse_arxiv_id(value))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_text(self, value: str) -> str:
        if len(value) > settings.PAPERCAST_MAX_TEXT_CHARS:
            raise serializers.ValidationError(
                f"The text has {len(value):,} characters; the limit is {settings.PAPERCAST_MAX_TEXT_CHARS:,}."
            )
        if not value.strip():
            raise serializers.ValidationError("The text is empty.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in SOURCES if attrs.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError({"non_field_errors": [f"Give exactly one of {', '.join(SOURCES)}."]})
        if given[0] in ("text", "text_file", "audio") and not " ".join(str(attrs.get("title", "")).split()):
            raise serializers.ValidationError({"title": ["A paper needs a title."]})
        return attrs


class PipelineStartSerializer(serializers.Serializer):
    from_stage = serializers.ChoiceField(
        choices=Stage.choices, required=False, help_text="Redo this stage (even if current) and the ones after it."
    )
    until = serializers.ChoiceField(choices=Stage.choices, required=False, help_text="Stop after this stage.")


class PipelineStartedSerializer(serializers.Serializer):
    started = serializers.BooleanField(help_text="False when every stage was current: nothing to run.")
    stage = serializers.ChoiceField(choices=Stage.choices, allow_null=True, help_text="The first stage to run.")
    run = serializers.IntegerField(allow_null=True, help_text="The id of the first stage run.")
    pipeline = PipelineStateSerializer()
