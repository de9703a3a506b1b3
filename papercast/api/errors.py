"""One error body for every API error, whatever raised it (ErrorSerializer):
`{"status": 404, "code": "not_found", "detail": "Not found.", "errors": {}}`; validation errors list what is
wrong per field in `errors`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


# `errors` would shadow Serializer.errors on a declared class; the schema needs only the shape.
ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "status": serializers.IntegerField(help_text="The HTTP status code."),
        "code": serializers.CharField(help_text="A stable machine-readable code: not_found, invalid, conflict, ..."),
        "detail": serializers.CharField(help_text="What went wrong, for a person."),
        "errors": serializers.DictField(
            child=serializers.JSONField(), help_text="Per-field messages for invalid requests; empty otherwise."
        ),
    },
)


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
        code = _first_code(exc.get_codes()) if isinstance(exc, exceptions.APIException) else "error"
        detail = str(data.get("detail", "")) if isinstance(data, dict) else str(data)
    response.data = {"status": response.status_code, "code": code, "detail": detail, "errors": errors}
    return response
