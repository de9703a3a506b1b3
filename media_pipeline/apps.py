from __future__ import annotations

from django.apps import AppConfig


class MediaPipelineConfig(AppConfig):
    name = "media_pipeline"
    verbose_name = "Media pipeline"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from papercast import checks  # noqa: F401  (registers the system checks)
