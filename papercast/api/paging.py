"""Paging and throttling for every list and every request. Loaded by DRF's settings: import nothing of DRF's views."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.conf import settings
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


class LoginThrottle(SimpleRateThrottle):
    """Guesses at passwords are limited per client address, whoever they claim to be."""

    scope = "login"

    def get_rate(self) -> str:
        return str(settings.PAPERCAST_API_LOGIN_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class IdFilter(django_filters.NumberFilter):
    """An object id in a query string: a positive 64-bit integer, else 400 (never a number the database refuses)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)
