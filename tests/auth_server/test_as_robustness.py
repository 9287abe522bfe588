"""Bad input anywhere is a precise 4xx — never a 500, never a stack trace."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.testclient import TestClient

from auth_server import paths
from auth_server.app import create_app
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import LOOPBACK_REDIRECT, authorize_params, query_of, register_client
from tests.auth_server.as_support import make_settings

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GARBAGE_BODIES: list[tuple[bytes, dict[str, str]]] = [
    (b"", {}),
    (b"", FORM),
    (b"%%%&&&===", FORM),
    (b"\x00\x01\x02", FORM),
    (b"token=%ff%fe", FORM),
    (b"grant_type=authorization_code&code=%00", FORM),
    (b'{"grant_type": "refresh_token"}', {"Content-Type": "application/json"}),
    (b"{", {"Content-Type": "application/json"}),
    (b"null", {"Content-Type": "application/json"}),
    (b'{"redirect_uris": null}', {"Content-Type": "application/json"}),
    (b'{"redirect_uris": [{"a": 1}]}', {"Content-Type": "application/json"}),
    (b"--boundary\r\n", {"Content-Type": "multipart/form-data; boundary=boundary"}),
    (b"x" * 70_000, FORM),
    (b"x", {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "abc"}),
]
POST_PATHS = [
    paths.TOKEN,
    paths.REVOKE,
    paths.INTROSPECT,
    paths.REGISTER,
    paths.LOGIN,
    paths.CONSENT,
    paths.LOGOUT,
]


def assert_clean_4xx(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "Traceback" not in response.text and 'File "' not in response.text


@pytest.mark.parametrize("path", POST_PATHS)
def test_garbage_posts_are_4xx(as_client: TestClient, path: str) -> None:
    for body, headers in GARBAGE_BODIES:
        if headers.get("Content-Length") == "abc":
            continue  # httpx refuses to send it; covered by the ASGI test below
        response = as_client.post(path, content=body, headers=headers)
        assert_clean_4xx(response)
        if path.startswith(("/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/register")):
            assert response.json()["error"]
    assert getattr(as_client.app.state, "unexpected_errors", 0) == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "client_id=",
        "client_id=%00",
        "client_id=" + "x" * 5000,
        "client_id=https://",
        "client_id=https://[::1/x",
        "client_id=https://claude.ai:0/x",
        "client_id=http://localhost:4000/x",
        "redirect_uri=javascript:alert(1)&client_id=x",
        "%ff=%fe",
        "client_id=a&client_id=b",
    ],
)
def test_garbage_authorization_requests_are_error_pages(as_client: TestClient, query: str) -> None:
    response = as_client.get(f"/oauth2/authorize?{query}", follow_redirects=False)
    assert_clean_4xx(response)
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def test_garbage_after_a_trusted_redirect_uri_is_redirected(as_client: TestClient) -> None:
    client_id = register_client(as_client)["client_id"]
    for extra in (
        "&code_challenge=%00",
        "&scope=%00",
        "&resource=%00",
        "&state=a&state=b",
        "&response_type=%ff",
    ):
        response = as_client.get(
            f"/oauth2/authorize?client_id={client_id}&redirect_uri={LOOPBACK_REDIRECT}{extra}",
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(LOOPBACK_REDIRECT + "?error=")


@pytest.mark.parametrize(
    "path",
    [
        "/oauth2/login?request_id=x",
        "/oauth2/consent?request_id=x",
        "/oauth2/login",
        "/oauth2/register/x",
        "/nope",
        "/.well-known/nope",
    ],
)
def test_garbage_gets_are_4xx(as_client: TestClient, path: str) -> None:
    assert_clean_4xx(as_client.get(path, headers={"Cookie": "mcp_as_session=forged.cookie.value"}))


def test_forged_session_cookie_is_ignored(as_client: TestClient) -> None:
    as_client.cookies.set(
        "mcp_as_session", "eyJzaWQiOiJ4In0.forged.sig", domain="localhost.local", path="/oauth2"
    )
    client_id = register_client(as_client)["client_id"]
    from shared.pkce import make_pair

    _, challenge = make_pair()
    response = as_client.get(
        "/oauth2/authorize",
        params={
            "client_id": client_id,
            "redirect_uri": LOOPBACK_REDIRECT,
            "response_type": "code",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        follow_redirects=False,
    )
    assert response.headers["location"].startswith("/oauth2/login")  # not signed in


def test_invalid_content_length_is_413(make_client: Any) -> None:
    """A non-numeric Content-Length (which httpx will not send) through raw ASGI."""
    as_client = make_client()
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/oauth2/token",
        "raw_path": b"/oauth2/token",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("localhost", 4000),
        "client": ("127.0.0.1", 1),
        "http_version": "1.1",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"abc")],
    }
    asyncio.run(as_client.app(scope, receive, send))  # type: ignore[arg-type]
    assert messages[0]["status"] == 413


def test_the_catch_all_handler_hides_details(tmp_path: Any) -> None:
    """What a bug would look like: a generic server_error, no stack trace, logged server-side."""
    app = create_app(make_settings(tmp_path))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "server_error",
        "error_description": "the authorization server hit an unexpected error",
    }
    assert "secret" not in response.text
    assert app.state.unexpected_errors == 1


def _rfc_6749_description(description: str) -> bool:
    # RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    return all(0x20 <= ord(ch) <= 0x7E and ch not in '"\\' for ch in description)


def test_error_descriptions_use_only_the_characters_rfc_6749_allows(
    as_client: TestClient,
) -> None:
    sent = 'tökén"\\'
    response = as_client.post("/oauth2/token", data={"grant_type": sent})
    assert response.status_code == 400
    description = response.json()["error_description"]
    assert response.json()["error"] == "unsupported_grant_type"
    assert _rfc_6749_description(description), description
    assert "U+00F6" in description and "U+005C" in description  # the client still sees what it sent

    client = register_client(as_client, redirect_uris=[LOOPBACK_REDIRECT])
    params = authorize_params(client["client_id"], make_pair()[1], response_type=sent)
    redirect = as_client.get("/oauth2/authorize", params=params, follow_redirects=False)
    assert redirect.status_code == 303
    query = query_of(redirect.headers["location"])
    assert query["error"] == "unsupported_response_type"
    assert _rfc_6749_description(query["error_description"]), query["error_description"]
    assert "U+00F6" in query["error_description"]
