"""Papers (with their pipeline state) and videos (state, lease, YouTube metadata, download links) as the API shows
them, and the papers the API creates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from media_pipeline.models import RunStatus, Stage, UploadEvent, UploadEventKind, Video
from media_pipeline.publishing import (
    CLAIM_CONFLICTS,
    FAIL_CONFLICTS,
    PUBLISH_CONFLICTS,
    YOUTUBE_ID,
    lease_active,
    video_status,
)
from media_pipeline.selectors import pipeline_state
from papercast.api.errors import error_serializer
from projects import access
from projects.identifiers import parse_arxiv_id
from projects.models import Paper, Project

VIDEO_STATUSES = [
    ("unapproved", "Not approved"),
    ("approved", "Approved, not published"),
    ("published", "Published"),
]


def iso(moment: datetime | None) -> str | None:
    return serializers.DateTimeField().to_representation(moment) if moment is not None else None


class LeaseSerializer(serializers.Serializer):
    held = serializers.BooleanField(help_text="An uploader holds the video now.")
    holder = serializers.CharField(allow_null=True, help_text="Who holds it.")
    expires_at = serializers.DateTimeField(allow_null=True)


class VideoSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="paper.title", read_only=True)
    project = serializers.IntegerField(source="paper.project_id", read_only=True)
    curation_status = serializers.CharField(source="paper.curation_status", read_only=True)
    status = serializers.SerializerMethodField()
    lease = serializers.SerializerMethodField()
    file_size = serializers.SerializerMethodField(
        help_text="Bytes of the MP4 (null for videos rendered before papercast recorded it)."
    )
    file_sha256 = serializers.SerializerMethodField(help_text="sha256 of the MP4, to check a download.")
    approved_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    published_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Video
        fields = [
            "id", "paper", "project", "title", "status", "curation_status", "duration", "width", "height",
            "file_size", "file_sha256", "approved_at", "approved_by", "youtube_id", "published_at", "published_by",
            "lease", "upload_failures", "last_failure", "last_failure_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=VIDEO_STATUSES))
    def get_status(self, video: Video) -> str:
        return video_status(video)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_file_size(self, video: Video) -> int | None:
        return video.file_size or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_file_sha256(self, video: Video) -> str | None:
        return video.file_sha256 or None

    @extend_schema_field(LeaseSerializer)
    def get_lease(self, video: Video) -> dict[str, Any]:
        held = lease_active(video)
        return {
            "held": held,
            "holder": video.lease_holder.get_username() if held and video.lease_holder else None,
            "expires_at": iso(video.lease_expires_at) if held else None,
        }


class FileLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    content_type = serializers.CharField()
    size = serializers.IntegerField(allow_null=True, help_text="Bytes, where known.")
    requires_auth = serializers.BooleanField(
        help_text=(
            "Send your API token with the request. False for presigned links (S3), which must be fetched "
            "without an Authorization header."
        )
    )
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When a presigned link stops working.")


class VideoFilesSerializer(serializers.Serializer):
    video = FileLinkSerializer()
    srt = FileLinkSerializer(allow_null=True)
    vtt = FileLinkSerializer(allow_null=True)
    thumbnail = FileLinkSerializer(allow_null=True)


class YouTubeSnippetSerializer(serializers.Serializer):
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    categoryId = serializers.CharField()
    defaultLanguage = serializers.CharField(required=False)
    defaultAudioLanguage = serializers.CharField(required=False)


class YouTubeStatusSerializer(serializers.Serializer):
    privacyStatus = serializers.ChoiceField(choices=["private", "unlisted", "public"])
    selfDeclaredMadeForKids = serializers.BooleanField()
    containsSyntheticMedia = serializers.BooleanField()
    publishAt = serializers.CharField(
        required=False, help_text="When YouTube makes the (private) video public, ISO 8601 in UTC; only if scheduled."
    )


class CaptionSerializer(serializers.Serializer):
    language = serializers.CharField(allow_blank=True, help_text="The narration's language (BCP-47).")
    name = serializers.CharField(help_text="The caption track's name (captions.insert snippet.name).")


class YouTubeBodySerializer(serializers.Serializer):
    snippet = YouTubeSnippetSerializer()
    status = YouTubeStatusSerializer()


class MetadataSerializer(serializers.Serializer):
    title = serializers.CharField(help_text="At most 100 characters, without < or >.")
    description = serializers.CharField(
        allow_blank=True, help_text="Summary, chapters in YouTube's format and credits; at most 5000 bytes."
    )
    tags = serializers.ListField(child=serializers.CharField(), help_text="Within YouTube's 500 characters.")
    category_id = serializers.CharField()
    default_language = serializers.CharField(
        allow_null=True, help_text="The title's and description's language: the project's, else the narration's."
    )
    default_audio_language = serializers.CharField(allow_null=True, help_text="The narration's language.")
    made_for_kids = serializers.BooleanField()
    contains_synthetic_media = serializers.BooleanField(help_text="YouTube's altered-or-synthetic-content flag.")
    privacy_status = serializers.ChoiceField(
        choices=["private", "unlisted", "public"], help_text="private while a video is scheduled (publish_at)."
    )
    publish_at = serializers.CharField(
        allow_null=True, help_text="When YouTube publishes the video (ISO 8601, UTC); null: not scheduled."
    )
    caption = CaptionSerializer(help_text="The caption track to add with the SRT or VTT file (captions.insert).")
    youtube = YouTubeBodySerializer(help_text="The videos.insert request body (parts snippet,status), ready to send.")


class UploadEventSerializer(serializers.ModelSerializer):
    user: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    kind = serializers.ChoiceField(choices=UploadEventKind.choices, read_only=True)

    class Meta:
        model = UploadEvent
        fields = ["kind", "user", "detail", "created_at"]
        read_only_fields = fields


class ChapterSerializer(serializers.Serializer):
    start = serializers.FloatField()
    timestamp = serializers.CharField()
    title = serializers.CharField()


class VideoDetailSerializer(VideoSerializer):
    chapters = ChapterSerializer(many=True, read_only=True)
    metadata = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()
    upload_events = UploadEventSerializer(many=True, read_only=True)

    class Meta(VideoSerializer.Meta):
        fields = [*VideoSerializer.Meta.fields, "chapters", "metadata", "files", "upload_events"]
        read_only_fields = fields

    @extend_schema_field(MetadataSerializer)
    def get_metadata(self, video: Video) -> dict[str, Any]:
        from media_pipeline.publishing import video_metadata

        return video_metadata(video)

    @extend_schema_field(VideoFilesSerializer)
    def get_files(self, video: Video) -> dict[str, Any]:
        from media_pipeline.api.files import file_links

        return file_links(self.context["request"], video)


class ClaimSerializer(serializers.Serializer):
    seconds = serializers.IntegerField(
        required=False,
        min_value=60,
        max_value=settings.PAPERCAST_UPLOAD_LEASE_MAX_SECONDS,
        help_text="How long the lease lasts (default PAPERCAST_UPLOAD_LEASE_SECONDS).",
    )
    lease = serializers.UUIDField(required=False, help_text="Renew this lease (yours) instead of claiming anew.")


class ClaimedSerializer(serializers.Serializer):
    lease = serializers.UUIDField(help_text="Name it when you report published or failed, or renew the lease.")
    expires_at = serializers.DateTimeField()
    video = VideoDetailSerializer()


class PublishedSerializer(serializers.Serializer):
    youtube_id = serializers.RegexField(YOUTUBE_ID, help_text="The id YouTube gave the uploaded video.")
    lease = serializers.UUIDField(
        required=False,
        help_text=(
            "The lease you claimed the video with (it must still hold). Without it, a lease your account holds "
            "counts: uploaders sharing an account must name theirs."
        ),
    )


class FailedSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, help_text="Why the upload failed, for the editors.")
    lease = serializers.UUIDField(
        required=False,
        help_text=(
            "The lease you claimed the video with. Without it, the lease your account holds is released (an "
            "uploader that lost its lease id gives its claim back so)."
        ),
    )


# One schema for the 409s of claim, published and failed (each operation's description says which codes it
# gives): one enum of codes, so the schema has one CodeEnum rather than a clash of several.
LeaseConflictSerializer = error_serializer(
    "LeaseConflict",
    {cls.code: cls.__doc__ or "" for cls in dict.fromkeys((*CLAIM_CONFLICTS, *PUBLISH_CONFLICTS, *FAIL_CONFLICTS))},
    holder=serializers.CharField(
        required=False, allow_null=True, help_text="Who holds the video's lease now (when one holds it)."
    ),
    expires_at=serializers.DateTimeField(required=False, help_text="When the lease that holds the video runs out."),
)


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
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required for a text. Optional for a PDF or arXiv paper (its own title) and for audio (the "
        "recording's title tag, else the file name).",
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
        if given[0] in ("text", "text_file") and not " ".join(str(attrs.get("title", "")).split()):
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
