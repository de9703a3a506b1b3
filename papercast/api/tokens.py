"""API tokens (django-rest-knox): stored as sha512 digests, bound to a user, expiring after
PAPERCAST_API_TOKEN_DAYS, revoked by logging out (or by deleting them in the admin). A user holds at most
PAPERCAST_MAX_TOKENS_PER_USER unexpired tokens; failed logins are limited per address and per username (axes)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from papercast.api.errors import LoginLockedOut, error_serializer
from papercast.api.paging import LoginThrottle


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`. Shown only once.")
    expiry = serializers.DateTimeField(allow_null=True)
    username = serializers.CharField()


def token_create(user: AbstractBaseUser) -> tuple[AuthToken, str]:
    """A new API token for `user` (the token row and the token, shown once), refused with 403 while the user
    holds PAPERCAST_MAX_TOKENS_PER_USER unexpired tokens.

    Not idempotent: every successful call makes another token. The user's row is locked while the tokens
    are counted, so two logins at once cannot both take the last free place.
    """
    with transaction.atomic():
        get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)
        held = AuthToken.objects.filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()), user_id=user.pk).count()
        limit = settings.PAPERCAST_MAX_TOKENS_PER_USER
        if held >= limit:
            raise exceptions.PermissionDenied(
                f"This user already holds {held} API tokens, the most one user may have ({limit}): revoke "
                "one (POST /api/v1/auth/logout/ with it, or /api/v1/auth/logoutall/) or wait until one expires.",
                code="too_many_tokens",
            )
        instance, token = AuthToken.objects.create(user=user)
    return instance, token


class TokenCreateView(APIView):
    """Exchange a username and password for an API token that expires (PAPERCAST_API_TOKEN_DAYS)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            201: TokenSerializer,
            403: error_serializer(
                "TokenLimitError",
                {"too_many_tokens": "The user holds PAPERCAST_MAX_TOKENS_PER_USER unexpired tokens: revoke one."},
            ),
            429: error_serializer(
                "LoginRefusedError",
                {
                    "throttled": "Too many token requests from this address: wait for the seconds in Retry-After.",
                    "locked_out": "Too many failed logins for this user or from this address: no password is "
                    "checked until the seconds in Retry-After have passed.",
                },
            ),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        form = TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        # The Django request, as for the admin's login form: axes counts the failure (by address and by
        # username) and refuses a locked-out login before the password is checked.
        user = authenticate(
            request=request._request,
            username=form.validated_data["username"],
            password=form.validated_data["password"],
        )
        if getattr(request._request, "axes_locked_out", False):
            raise LoginLockedOut()
        if user is None or not user.is_active:
            raise exceptions.ValidationError({"non_field_errors": ["Wrong username or password."]})
        instance, token = token_create(user)
        body = {"token": token, "expiry": instance.expiry, "username": user.get_username()}
        return Response(TokenSerializer(body).data, status=status.HTTP_201_CREATED)


class _TokenRevokeBase(APIView):
    def _token(self, request: Request) -> AuthToken:
        if not isinstance(request.auth, AuthToken):
            raise exceptions.ValidationError(
                {"non_field_errors": ["Only a request made with an API token can revoke tokens."]}
            )
        return request.auth


class TokenRevokeView(_TokenRevokeBase):
    """Revoke the token this request was made with."""

    @extend_schema(request=None, responses={204: None}, tags=["auth"])
    def post(self, request: Request) -> Response:
        self._token(request).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRevokeAllView(_TokenRevokeBase):
    """Revoke every token of the user this request's token belongs to."""

    @extend_schema(request=None, responses={204: None}, tags=["auth"])
    def post(self, request: Request) -> Response:
        AuthToken.objects.filter(user=self._token(request).user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """Who the credentials belong to, and when the token expires."""

    @extend_schema(
        responses={
            200: inline_serializer(
                "Me",
                {
                    "username": serializers.CharField(),
                    "is_superuser": serializers.BooleanField(),
                    "token_expiry": serializers.DateTimeField(allow_null=True),
                },
            )
        },
        tags=["auth"],
    )
    def get(self, request: Request) -> Response:
        expiry = request.auth.expiry if isinstance(request.auth, AuthToken) else None
        return Response(
            {
                "username": request.user.get_username(),
                "is_superuser": bool(request.user.is_superuser),
                "token_expiry": serializers.DateTimeField().to_representation(expiry) if expiry else None,
            }
        )
