"""URL routes: the admin (curation), the REST API (/api/v1/, schema and docs) and, for local file storage,
the media files behind a login."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from media_pipeline.api.papers import PaperViewSet
from media_pipeline.api.views import VideoViewSet
from media_pipeline.views import media_file
from papercast.api.tokens import MeView, TokenCreateView, TokenRevokeAllView, TokenRevokeView
from projects.api.views import ProjectViewSet

router = DefaultRouter()
router.register("projects", ProjectViewSet, basename="project")
router.register("papers", PaperViewSet, basename="paper")
router.register("videos", VideoViewSet, basename="video")

api_v1 = [
    path("auth/token/", TokenCreateView.as_view(), name="token-create"),
    path("auth/logout/", TokenRevokeView.as_view(), name="token-revoke"),
    path("auth/logoutall/", TokenRevokeAllView.as_view(), name="token-revoke-all"),
    path("auth/me/", MeView.as_view(), name="me"),
    *router.urls,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/session/", include("rest_framework.urls")),
    path("media/<path:name>", media_file, name="media-file"),
]


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A JSON 404 in the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        body = {"status": 404, "code": "not_found", "detail": "No such API endpoint.", "errors": {}}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


handler404 = not_found
