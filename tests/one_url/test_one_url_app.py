"""One-URL mode at the ASGI level: the real AS and RS apps behind :class:`OneUrlApp`.

Every request goes through a starlette ``TestClient`` on ``https://mcp.example.test`` — a name
that never resolves (RFC 6761), so the RS's key fetches can only succeed in-process. The tests
check that each path lands on the app that owns it, that the discovery documents agree on the
one URL (RFC 8414 ``issuer``, RFC 9728 ``resource`` and ``authorization_servers``), and that a
whole sign-in plus tool calls work through the single app.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.routing import BaseRoute, Route
from starlette.testclient import TestClient

from mcp_oauth_demo import doctor
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.one_url import (
    PATHS,
    InProcessAuthServer,
    OneUrlApp,
    create_app,
    one_url_settings,
    owner_of,
)
from mcp_oauth_demo.user_agent import sign_in
from shared.pkce import make_pair
from shared.settings import ConfigError, Settings

PUBLIC_URL = "https://mcp.example.test"
LOOPBACK_REDIRECT = "http://127.0.0.1:8765/callback"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes configures the servers, never the developer's shell."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"_env_file": None, "data_dir": tmp_path, "public_url": PUBLIC_URL}
    return one_url_settings(8000, **{**values, **overrides})


@pytest.fixture
def app(tmp_path: Path) -> OneUrlApp:
    return create_app(settings_for(tmp_path))


@pytest.fixture
def client(app: OneUrlApp) -> Iterator[TestClient]:
    with TestClient(app, base_url=PUBLIC_URL) as test_client:
        yield test_client


# -- which app owns which path -----------------------------------------------------------------
def route_paths(routes: list[BaseRoute], prefix: str = "") -> Iterator[str]:
    """Every path an app routes, including those of FastAPI routers it includes."""
    for route in routes:
        if isinstance(route, Route):
            yield prefix + route.path
        # FastAPI keeps an included APIRouter as one entry (fastapi.routing._IncludedRouter).
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from route_paths(included.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]


def test_every_route_of_both_apps_is_routed_to_its_own_app(app: OneUrlApp) -> None:
    for owner, asgi_app in app.apps.items():
        paths = list(route_paths(asgi_app.routes))
        assert len(paths) >= 4, f"{owner} routes {paths}"
        for path in paths:
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            assert owner_of(concrete) == owner, (
                f"{path} belongs to {owner} but PATHS says {owner_of(concrete)}"
            )


def test_well_known_paths_do_not_collide() -> None:
    assert owner_of("/.well-known/oauth-authorization-server") == "auth"
    assert owner_of("/.well-known/openid-configuration") == "auth"
    assert owner_of("/.well-known/oauth-protected-resource") == "rs"
    assert owner_of("/.well-known/oauth-protected-resource/mcp") == "rs"
    # A prefix owns what is below it, not what merely starts with the same letters.
    assert owner_of("/mcpx") is None
    assert owner_of("/oauth2x/token") is None
    assert owner_of("/.well-known/oauth-protected-resourcex") is None
    assert owner_of("/.well-known/unknown") is None
    assert len({prefix for prefix, _ in PATHS}) == len(PATHS)


def test_each_path_answers_from_the_app_that_owns_it(client: TestClient) -> None:
    as_metadata = client.get("/.well-known/oauth-authorization-server")
    assert as_metadata.status_code == 200
    assert client.get("/.well-known/openid-configuration").json() == as_metadata.json()
    assert client.get("/oauth2/jwks").json()["keys"], "the AS's JWK Set"
    prm = client.get("/.well-known/oauth-protected-resource/mcp")
    assert prm.status_code == 200
    assert client.get("/.well-known/oauth-protected-resource").json() == prm.json()
    assert "widget" in client.get("/widget").text.lower()
    assert f"{PUBLIC_URL}/mcp" in client.get("/").text, "the RS's index page names the MCP URL"
    login = client.get("/oauth2/login")
    assert login.status_code in (200, 400), "the AS answers its own paths, even without a request"
    for path in ("/nothing-here", "/.well-known/unknown", "/mcpx"):
        missing = client.get(path)
        assert missing.status_code == 404, path
        assert missing.json() == {"detail": "Not Found"}


def test_metadata_documents_agree_on_the_one_url(client: TestClient) -> None:
    prm = client.get("/.well-known/oauth-protected-resource/mcp").json()
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert prm["resource"] == f"{PUBLIC_URL}/mcp"
    assert prm["authorization_servers"] == [PUBLIC_URL] == [metadata["issuer"]]
    for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "jwks_uri"):
        assert metadata[key].startswith(PUBLIC_URL + "/oauth2/"), (key, metadata[key])


def test_unauthenticated_call_challenges_with_the_one_url(client: TestClient) -> None:
    response = client.post(
        "/mcp",
        json=oc.rpc("tools/call", {"name": "notes_list", "arguments": {}}, 1),
        headers={"Accept": oc.MCP_ACCEPT},
    )
    assert response.status_code == 401
    scheme, params = oc.parse_www_authenticate(response.headers["www-authenticate"])
    assert scheme.lower() == "bearer"
    assert params["resource_metadata"] == f"{PUBLIC_URL}/.well-known/oauth-protected-resource/mcp"


# -- a whole sign-in and tool calls through the one app ------------------------------------------
def test_sign_in_and_tool_calls_through_one_app(app: OneUrlApp, client: TestClient) -> None:
    prm = oc.json_body(client.get(f"{PUBLIC_URL}/.well-known/oauth-protected-resource/mcp"), "PRM")
    issuer = prm["authorization_servers"][0]
    metadata = oc.json_body(
        client.get(oc.well_known_url(issuer, "oauth-authorization-server")), "AS metadata"
    )
    registered = oc.register_client(
        client, metadata["registration_endpoint"], LOOPBACK_REDIRECT, name="one-URL test client"
    )
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]
    verifier, challenge = make_pair()
    state = secrets.token_urlsafe(8)
    url = oc.authorization_url(
        metadata["authorization_endpoint"],
        client_id=client_id,
        redirect_uri=LOOPBACK_REDIRECT,
        code_challenge=challenge,
        state=state,
        resource=prm["resource"],
    )
    answer = sign_in(client, url)
    assert answer.state == state
    assert answer.iss == PUBLIC_URL, "RFC 9207: the authorization response names the one issuer"
    tokens = oc.json_body(
        oc.exchange_code(
            client,
            metadata["token_endpoint"],
            client_id=client_id,
            code=answer.require_code(),
            redirect_uri=LOOPBACK_REDIRECT,
            code_verifier=verifier,
            resource=prm["resource"],
        ),
        "token response",
    )
    claims = oc.jwt_claims(tokens["access_token"])
    assert claims["iss"] == PUBLIC_URL
    assert claims["aud"] in (f"{PUBLIC_URL}/mcp", [f"{PUBLIC_URL}/mcp"])

    session = oc.McpSession(client, f"{PUBLIC_URL}/mcp", access_token=tokens["access_token"])
    session.initialize("one-URL test client")
    added, message = session.call_tool("notes_add", {"text": "one URL, one tunnel"})
    assert added.status_code == 200 and not message["result"].get("isError"), message
    listed, message = session.call_tool("notes_list", {})
    assert listed.status_code == 200, message
    assert "one URL, one tunnel" in [note["text"] for note in message["result"]["structuredContent"]["notes"]]
    session.close()

    # The RS found the keys at the one URL — in this process, since the host does not resolve.
    jwks = app.apps["rs"].state.jwks
    assert jwks.jwks_uri == f"{PUBLIC_URL}/oauth2/jwks"
    assert jwks.as_request_count == 2, "AS metadata, then the JWK Set; cached after that"


def test_the_doctor_passes_every_check_against_the_one_app(tmp_path: Path, client: TestClient) -> None:
    settings = settings_for(tmp_path)
    findings = list(doctor.diagnose(doctor.Probe(settings=settings, http=client)))
    failed = [(section, f) for section, f in findings if f.status in ("fail", "warn")]
    assert failed == []
    passed = {finding.key for _, finding in findings if finding.status == "ok"}
    assert {"one-url", "prm-issuer", "issuer", "jwks", "token"} <= passed


# -- the router's plumbing ---------------------------------------------------------------------
def test_requests_pass_to_the_app_untouched() -> None:
    """The router hands over the server's own receive and send: nothing buffers a stream."""
    seen: list[tuple[object, object]] = []

    async def inner(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append((receive, send))

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        raise AssertionError("the inner app answered nothing")

    router = OneUrlApp(inner, inner)  # type: ignore[arg-type]
    scope = {"type": "http", "path": "/mcp", "method": "GET", "headers": []}
    anyio.run(router, scope, receive, send)
    assert seen == [(receive, send)]


def test_the_rs_transport_refuses_other_origins(app: OneUrlApp) -> None:
    transport = InProcessAuthServer(app.apps["auth"], PUBLIC_URL)

    async def fetch(url: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport) as http:
            return await http.get(url)

    with pytest.raises(httpx.ConnectError, match=r"only from the AS at https://mcp\.example\.test:443"):
        anyio.run(fetch, "https://elsewhere.example.test/oauth2/jwks")
    with pytest.raises(httpx.ConnectError):
        anyio.run(fetch, "http://mcp.example.test/oauth2/jwks")  # same host, another scheme and port


# -- configuration -----------------------------------------------------------------------------
def test_settings_for_one_port(tmp_path: Path) -> None:
    local = one_url_settings(8123, _env_file=None, data_dir=tmp_path)
    assert local.public_url == local.auth_issuer == local.rs_base_url == "http://localhost:8123"
    assert local.mcp_resource == "http://localhost:8123/mcp"
    assert local.rs_port == local.auth_port == 8123, "the RS allows Host: localhost:<port>"
    public = settings_for(tmp_path)
    assert (public.auth_issuer, public.rs_base_url) == (PUBLIC_URL, PUBLIC_URL)


def test_a_two_url_configuration_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        one_url_settings(8000, _env_file=None, data_dir=tmp_path, rs_base_url="https://rs.example.test")
    message = str(info.value)
    assert "RS_BASE_URL='https://rs.example.test' is set for two URLs" in message
    assert "set PUBLIC_URL=<your tunnel's https URL> and remove RS_BASE_URL and AUTH_ISSUER" in message


def test_app_without_public_url_is_refused(tmp_path: Path) -> None:
    from shared.settings import load_settings

    with pytest.raises(ConfigError, match="needs PUBLIC_URL"):
        create_app(load_settings(_env_file=None, data_dir=tmp_path))


def test_bad_configuration_ends_the_command_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from mcp_oauth_demo import one_url

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("PUBLIC_URL", "https://abc123.ngrok-free.app/")
    assert one_url.run(argparse.Namespace(port=8000, host="127.0.0.1")) == 2
    error = capsys.readouterr().err
    assert error == (
        "configuration error: PUBLIC_URL='https://abc123.ngrok-free.app/' ends with '/'; "
        "remove the trailing slash\n"
    )
