"""Videos as the uploader sees them: state, lease, YouTube metadata and download links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from media_pipeline.models import UploadEvent, UploadEventKind, Video
from media_pipeline.publishing import YOUTUBE_ID, lease_active, video_status

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
    default_language = serializers.CharField(allow_null=True)
    made_for_kids = serializers.BooleanField()
    contains_synthetic_media = serializers.BooleanField(help_text="YouTube's altered-or-synthetic-content flag.")
    privacy_status = serializers.ChoiceField(choices=["private", "unlisted", "public"])
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
    lease = serializers.UUIDField(required=False, help_text="The lease you claimed the video with.")


class FailedSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, help_text="Why the upload failed, for the editors.")
    lease = serializers.UUIDField(required=False, help_text="The lease you claimed the video with.")
