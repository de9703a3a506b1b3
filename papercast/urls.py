"""URL routes: the admin (curation) and, for local file storage, the media files behind a login."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from media_pipeline.views import media_file

urlpatterns = [
    path("admin/", admin.site.urls),
    path("media/<path:name>", media_file, name="media-file"),
]
