"""API tokens (django-rest-knox): stored as sha512 digests, bound to a user, expiring after
PAPERCAST_API_TOKEN_DAYS, revoked by logging out (or by deleting them in the admin)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from papercast.api.paging import LoginThrottle


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`. Shown only once.")
    expiry = serializers.DateTimeField(allow_null=True)
    username = serializers.CharField()


class TokenCreateView(APIView):
    """Exchange a username and password for an API token that expires (PAPERCAST_API_TOKEN_DAYS)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(request=TokenRequestSerializer, responses={201: TokenSerializer}, auth=[], tags=["auth"])
    def post(self, request: Request) -> Response:
        form = TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = authenticate(
            request._request, username=form.validated_data["username"], password=form.validated_data["password"]
        )
        if user is None or not user.is_active:
            raise exceptions.ValidationError({"non_field_errors": ["Wrong username or password."]})
        instance, token = AuthToken.objects.create(user=user)
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
