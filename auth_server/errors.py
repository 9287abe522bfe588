"""Error responses of the authorization server (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 7009 §2.2.1).

Every endpoint that a client calls answers errors with the same JSON shape::

    {"error": "invalid_grant", "error_description": "what is wrong and how to fix it"}

so an endpoint only ever *raises* :class:`OAuthError`; the handler installed by
:func:`install_error_handlers` renders it. Browser-facing pages raise
:class:`pages.PageError` instead, which renders HTML (see ``pages.py``).

The catch-all handler exists so that a bug never leaks a stack trace to a client; the tests
make sure no request can reach it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("auth_server")

# RFC 6749 §5.1: responses carrying tokens or errors about them must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An OAuth error to send to the client as JSON; ``description`` is safe to show."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status_code: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status_code = status_code
        self.headers = dict(headers or {})


def error_response(error: OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status_code,
        headers={**NO_STORE, **error.headers},
    )


async def _oauth_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    # Routing errors (unknown path, wrong method) keep the OAuth JSON shape instead of
    # FastAPI's {"detail": …}, so a client's error handling sees one format everywhere.
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        description = (
            f"there is no endpoint at {request.url.path}; see /.well-known/oauth-authorization-server"
        )
        error = "not_found"
    elif exc.status_code == 405:
        description = f"{request.method} is not allowed on {request.url.path}"
        error = "method_not_allowed"
    else:
        description, error = str(exc.detail), "invalid_request"
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=exc.status_code,
        headers={**NO_STORE, **(exc.headers or {})},
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    # Endpoints read their parameters themselves; this only guards against a future
    # route that declares typed parameters.
    return error_response(OAuthError("invalid_request", "the request parameters are malformed"))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request.app.state.unexpected_errors = getattr(request.app.state, "unexpected_errors", 0) + 1
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"error": "server_error", "error_description": "the authorization server hit an unexpected error"},
        status_code=500,
        headers=NO_STORE,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
