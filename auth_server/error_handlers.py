"""The exception handlers: how a raised error reaches the client (see ``errors.py``).

One handler per kind of answer: :class:`errors.OAuthError` becomes a redirect to the
client (when it carries a trusted ``redirect_uri``) or OAuth JSON, :class:`pages.PageError`
an HTML page, a routing error the same JSON shape as an OAuth error.

The catch-all handler exists so that a bug never leaks a stack trace to a client; the tests
make sure no request can reach it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from auth_server import paths
from auth_server.client_redirects import redirect_to_client
from auth_server.context import context_of
from auth_server.errors import NO_STORE, OAuthError, safe_description
from auth_server.pages import PageError

log = logging.getLogger("auth_server")


def json_error(
    error: str, description: str, status_code: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": safe_description(description)},
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
    )


def error_response(request: Request, error: OAuthError) -> Response:
    if error.redirect_uri is not None:
        return redirect_to_client(
            context_of(request),
            error.redirect_uri,
            {
                "error": error.error,
                "error_description": safe_description(error.description),
                "state": error.state,
            },
        )
    return json_error(error.error, error.description, error.status_code, error.headers)


async def _oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    # Routing errors (unknown path, wrong method) keep the OAuth JSON shape instead of
    # FastAPI's {"detail": …}, so a client's error handling sees one format everywhere.
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        description = f"there is no endpoint at {request.url.path}; see {paths.METADATA}"
        error = "not_found"
    elif exc.status_code == 405:
        description = f"{request.method} is not allowed on {request.url.path}"
        error = "method_not_allowed"
    else:
        description, error = str(exc.detail), "invalid_request"
    return json_error(error, description, exc.status_code, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    # Endpoints read their parameters themselves; this only guards against a future
    # route that declares typed parameters.
    return error_response(request, OAuthError("invalid_request", "the request parameters are malformed"))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request.app.state.unexpected_errors = getattr(request.app.state, "unexpected_errors", 0) + 1
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_error("server_error", "the authorization server hit an unexpected error", 500)


async def _page_error(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, PageError)
    return context_of(request).pages.error(exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
