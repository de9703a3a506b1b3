"""One error body for every API error, whatever raised it (ErrorSerializer):
`{"status": 404, "code": "not_found", "detail": "Not found.", "errors": {}}`; validation errors list what is
wrong per field in `errors`; a 409's code names the conflict, and its body may add fields of its own.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response


def error_body(status_code: int, code: str, detail: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's error body (ErrorSerializer's shape), for every answer that refuses a request."""
    return {"status": status_code, "code": code, "detail": detail, "errors": errors or {}}


def error_response(status_code: int, code: str, detail: str) -> JsonResponse:
    """An error answered outside DRF's views (middleware, the file downloads) in the API's shape."""
    return JsonResponse(error_body(status_code, code, detail), status=status_code)


class Conflict(exceptions.APIException):
    """A 409 with its own `code` (say which conflict; never just "conflict" when the caller can act on the
    difference), and `fields` added to the error body (e.g. who holds a lease)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"

    def __init__(self, detail: str | None = None, code: str | None = None, **fields: Any) -> None:
        super().__init__(detail, code)
        self.fields = fields


class LoginLockedOut(exceptions.APIException):
    """Too many failed logins for this username or from this address (axes, settings.AXES_*): no password
    is checked, not even the right one, until the cool-off has passed."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self) -> None:
        # DRF's handler turns `wait` into Retry-After. Every refused attempt starts the cool-off again.
        self.wait = int(settings.AXES_COOLOFF_TIME.total_seconds())
        minutes = max(1, self.wait // 60)
        super().__init__(
            f"Too many failed logins for this user or from this address: try again in {minutes} "
            f"minute{'' if minutes == 1 else 's'}. Each attempt until then starts the wait again."
        )


def login_lockout_response(
    request: HttpRequest, original_response: HttpResponseBase | None = None, credentials: Any = None
) -> HttpResponseBase:
    """The answer to a login axes locked out (AXES_LOCKOUT_CALLABLE, called by AxesMiddleware in place of
    the login view's answer): the API's error shape under /api/v1/, a short plain page for the login forms
    (the admin's, the browsable API's). Never a redirect to a login form that would refuse again."""
    locked = LoginLockedOut()
    response: HttpResponseBase
    if request.path_info.startswith("/api/v1/"):
        response = error_response(locked.status_code, locked.default_code, str(locked.detail))
    else:
        response = HttpResponse(str(locked.detail), status=locked.status_code, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(locked.wait)
    return response


def _error_fields(code: serializers.Field) -> dict[str, serializers.Field]:
    return {
        "status": serializers.IntegerField(help_text="The HTTP status code."),
        "code": code,
        "detail": serializers.CharField(help_text="What went wrong, for a person."),
        "errors": serializers.DictField(
            child=serializers.JSONField(), help_text="Per-field messages for invalid requests; empty otherwise."
        ),
    }


# `errors` would shadow Serializer.errors on a declared class; the schema needs only the shape.
ErrorSerializer = inline_serializer(
    name="Error",
    fields=_error_fields(
        serializers.CharField(
            help_text=(
                "A stable machine-readable code, e.g. invalid (400), not_authenticated (401), permission_denied "
                "(403), not_found (404), throttled (429); a 409 names its reason (see the operation's 409 "
                "response)."
            )
        )
    ),
)


def error_serializer(name: str, codes: dict[str, str], **fields: serializers.Field) -> Any:
    """The error shape of one kind of response: `code` is one of `codes` (code -> what it means), and the body
    may carry `fields` too (required=False for those only some codes send)."""
    meaning = " ".join(f"`{code}`: {' '.join(text.split())}" for code, text in codes.items())
    code = serializers.ChoiceField(choices=list(codes), help_text=meaning)
    return inline_serializer(name=name, fields={**_error_fields(code), **fields})


def _first_code(codes: Any) -> str:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        codes = next(iter(codes.values()), "error")
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    return "error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    errors: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        detail = "The request is not valid: see errors."
        non_field = errors.get("non_field_errors")
        if isinstance(non_field, list) and len(errors) == 1 and non_field:
            detail = str(non_field[0])
    else:
        if isinstance(exc, exceptions.APIException):
            code = _first_code(exc.get_codes())
        elif isinstance(exc, Http404):  # get_object(), get_object_or_404(): DRF answers them as NotFound
            code = "not_found"
        elif isinstance(exc, PermissionDenied):
            code = "permission_denied"
        else:
            code = "error"
        detail = str(data.get("detail", "")) if isinstance(data, dict) else str(data)
    body = error_body(response.status_code, code, detail, errors)
    extra = getattr(exc, "fields", None) if isinstance(exc, Conflict) else None
    response.data = {**(extra or {}), **body}
    return response
