"""Absolute links in API responses: https whenever the site is served over https.

Behind a TLS proxy Django sees plain http unless the proxy's X-Forwarded-Proto is trusted
(PAPERCAST_TRUST_FORWARDED_PROTO); a link built from that would send the uploader, token and all, to an
http:// address. So a link is https when the request came over https or the site URL says https.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request


def site_is_https() -> bool:
    return str(settings.SITE_URL).lower().startswith("https://")


def secure_link(request: HttpRequest | Request, url: str) -> str:
    """`url` (absolute, built from `request`) in https when the site is https and the request seemed not."""
    if url.startswith("http://") and not request.is_secure() and site_is_https():
        return "https://" + url.removeprefix("http://")
    return url


def absolute_url(request: HttpRequest | Request, location: str) -> str:
    """request.build_absolute_uri(location), in https for an https site."""
    return secure_link(request, request.build_absolute_uri(location))
