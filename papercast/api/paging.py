"""Paging and throttling for every list and every request. Loaded by DRF's settings: import nothing of DRF's views."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.http import HttpRequest
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from papercast.api.links import secure_link


class Pagination(PageNumberPagination):
    page_size = settings.PAPERCAST_API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = 500

    # The page links DRF builds from the request, in https for an https site (papercast.api.links).
    def get_next_link(self) -> str | None:
        link = super().get_next_link()
        return link if link is None or self.request is None else secure_link(self.request, link)

    def get_previous_link(self) -> str | None:
        link = super().get_previous_link()
        return link if link is None or self.request is None else secure_link(self.request, link)


# Rates are read from settings on every request (not frozen at import), so a deployment and a test set them.
class UserThrottle(UserRateThrottle):
    def get_rate(self) -> str:
        return str(settings.PAPERCAST_API_RATE)


class AnonThrottle(AnonRateThrottle):
    def get_rate(self) -> str:
        return str(settings.PAPERCAST_API_ANON_RATE)


def client_address(request: HttpRequest | Request) -> str:
    """The client's address: REMOTE_ADDR, or the one the outermost of PAPERCAST_TRUSTED_PROXIES proxies saw.

    Each proxy appends the address it was reached from to X-Forwarded-For, so only the last
    PAPERCAST_TRUSTED_PROXIES entries are true; anything before them is whatever the client wrote. The
    same rule as DRF's NUM_PROXIES (its throttles), and axes' AXES_CLIENT_IP_CALLABLE.
    """
    remote = str(request.META.get("REMOTE_ADDR") or "")
    proxies = int(settings.PAPERCAST_TRUSTED_PROXIES)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies == 0 or not forwarded:
        return remote
    hops = forwarded.split(",")
    return hops[-min(proxies, len(hops))].strip() or remote


class LoginThrottle(SimpleRateThrottle):
    """Guesses at passwords are limited per client address, whoever they claim to be (axes limits them
    per address and per username on top: settings.AXES_*)."""

    scope = "login"

    def get_rate(self) -> str:
        return str(settings.PAPERCAST_API_LOGIN_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class IdFilter(django_filters.NumberFilter):
    """An object id in a query string: a positive 64-bit integer, else 400 (never a number the database refuses)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)
