"""Reading request parameters the way RFC 6749 §3.1 and §3.2 ask.

* Parameters sent without a value are treated as if they were omitted.
* A parameter must not be sent more than once (except where a spec says otherwise,
  such as RFC 8707's ``resource``).
* The token, revocation and introspection endpoints take
  ``application/x-www-form-urlencoded`` bodies (RFC 6749 §4.1.3); registration takes JSON
  (RFC 7591 §3.1).

Bodies are read with a size bound, so a client cannot make the server buffer megabytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from auth_server.errors import ErrorCode, OAuthError

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 100
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class Params:
    """Request parameters as an ordered multi-map with OAuth's duplicate rule."""

    def __init__(self, items: Iterable[tuple[str, str]], *, error: ErrorCode = "invalid_request") -> None:
        self._items = [(name, value) for name, value in items if value != ""]
        self._error = error

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        if len(values) > 1:
            raise OAuthError(self._error, f"the parameter {name!r} was sent more than once; send it once")
        return values[0] if values else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise OAuthError(self._error, f"the parameter {name!r} is missing")
        return value

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self._items if key == name]

    def names(self) -> set[str]:
        return {name for name, _ in self._items}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, *, error: ErrorCode = "invalid_request") -> bytes:
    """The raw body, refused with 413 beyond :data:`MAX_BODY_BYTES` (declared or streamed)."""
    too_large = OAuthError(error, f"the request body is larger than {MAX_BODY_BYTES} bytes", status_code=413)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


def _decode(body: bytes, error: ErrorCode) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise OAuthError(error, "the request body is not valid UTF-8") from None


async def read_form(request: Request, *, error: ErrorCode = "invalid_request") -> Params:
    """An ``application/x-www-form-urlencoded`` body (RFC 6749 §4.1.3, Appendix B)."""
    if media_type(request) != FORM_CONTENT_TYPE:
        raise OAuthError(
            error,
            f"send the parameters as {FORM_CONTENT_TYPE} (got {media_type(request) or 'no Content-Type'})",
        )
    text = _decode(await read_body(request, error=error), error)
    try:
        items = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise OAuthError(error, f"the form has more than {MAX_FIELDS} fields") from None
    return Params(items, error=error)


async def read_json_object(request: Request, *, error: ErrorCode) -> dict[str, Any]:
    """A JSON object body (RFC 7591 §3.1); anything else is refused with ``error``."""
    if media_type(request) != "application/json":
        raise OAuthError(
            error, f"send the client metadata as application/json (got {media_type(request) or 'none'})"
        )
    text = _decode(await read_body(request, error=error), error)
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise OAuthError(error, f"the body is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise OAuthError(error, "the body must be a JSON object")
    return value


def query_params(request: Request) -> Params:
    return Params(request.query_params.multi_items())
