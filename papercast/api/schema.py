"""The OpenAPI schema: drf-spectacular's, with the error responses every endpoint can give."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from papercast.api.errors import ErrorSerializer

_ERRORS = {
    "400": "The request is not valid (see `errors`).",
    "401": "No valid credentials (a missing, expired or revoked token).",
    "403": "Your role in the project does not allow this.",
    "404": "Not found, or not in a project you are a member of (code `not_found`).",
    "406": "None of the accepted content types can be served.",
    "429": "Too many requests: wait for the seconds in Retry-After.",
}
_WRITE_ERRORS = {
    "409": "Conflicts with the resource's current state: `code` says which conflict, `detail` explains.",
    "415": "The request body's content type is not accepted.",
}


class AutoSchema(SpectacularAutoSchema):
    """The generated schema, with the error responses every endpoint can give, all in ErrorSerializer's shape."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        errors = {**_ERRORS, **(_WRITE_ERRORS if self.method in ("POST", "PUT", "PATCH") else {})}
        for code, description in errors.items():
            if code not in responses:
                body = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                body["description"] = description
                responses[code] = body
        return responses
