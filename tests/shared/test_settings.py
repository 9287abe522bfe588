"""Configuration (``.env.example``): defaults, derived values and one-line errors naming the variable."""

import pytest

from shared.settings import ConfigError, load_settings


def test_defaults_and_derived_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RS_BASE_URL", "AUTH_ISSUER", "MCP_RESOURCE", "OAUTH_ALLOWED_REDIRECT_URIS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.mcp_resource == "http://localhost:3000/mcp"
    assert settings.rs_metadata_url == "http://localhost:3000/.well-known/oauth-protected-resource/mcp"
    assert "https://chatgpt.com/connector_platform_oauth_redirect" in settings.oauth_allowed_redirect_uris


def test_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_ALLOWED_REDIRECT_URIS", "https://a.example/cb, https://b.example/x/*")
    monkeypatch.setenv("OAUTH_ALLOWED_CLIENT_METADATA_HOSTS", "*")
    settings = load_settings(_env_file=None)
    assert settings.oauth_allowed_redirect_uris == ("https://a.example/cb", "https://b.example/x/*")
    assert settings.oauth_allowed_client_metadata_hosts == ("*",)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"auth_issuer": "http://localhost:4000/"}, "AUTH_ISSUER"),
        ({"auth_issuer": "http://localhost:4000/tenant"}, "AUTH_ISSUER"),
        ({"rs_base_url": "http://my-demo.example"}, "RS_BASE_URL"),
        ({"mcp_resource": "https://elsewhere.example/mcp"}, "MCP_RESOURCE"),
        ({"jwt_alg": "HS256"}, "JWT_SECRET"),
        ({"jwt_alg": "HS256", "jwt_secret": "short"}, "JWT_SECRET"),
        ({"auth_code_ttl_sec": 601}, "AUTH_CODE_TTL_SEC"),
        ({"tool_auth_challenge": "sometimes"}, "TOOL_AUTH_CHALLENGE"),
        ({"oauth_allowed_redirect_uris": "https://a.example/*/cb*"}, "OAUTH_ALLOWED_REDIRECT_URIS"),
    ],
)
def test_misconfiguration_is_one_line_naming_the_variable(overrides: dict, variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, **overrides)
    message = str(info.value)
    assert variable in message and "\n" not in message


def test_database_url_selects_postgresql_and_names_itself_without_the_password() -> None:
    from shared.settings import storage_description

    settings = load_settings(_env_file=None, database_url="postgresql://mcp:hunter2@db.internal:5433/demo")
    assert settings.database_engine == "postgresql"
    assert storage_description(settings) == "PostgreSQL db.internal:5433/demo, 1 worker"
    assert load_settings(_env_file=None, store="memory").database_engine == "memory"
    with pytest.raises(ConfigError, match="DATABASE_URL must be a PostgreSQL URL"):
        load_settings(_env_file=None, database_url="mysql://db/demo")


def test_memory_store_with_several_workers_is_warned_about() -> None:
    from shared.settings import startup_warnings

    (warning,) = startup_warnings(load_settings(_env_file=None, store="memory", web_concurrency=2))
    assert "STORE=memory with WEB_CONCURRENCY=2" in warning and "DATABASE_URL" in warning
    assert startup_warnings(load_settings(_env_file=None, store="sqlite", web_concurrency=2)) == []


@pytest.mark.parametrize(
    ("identity", "given", "missing"),
    [
        ("oidc", {}, "UPSTREAM_ISSUER, UPSTREAM_CLIENT_ID, UPSTREAM_CLIENT_SECRET"),
        ("oidc", {"upstream_issuer": "https://idp.example"}, "UPSTREAM_CLIENT_ID, UPSTREAM_CLIENT_SECRET"),
        ("github", {"upstream_client_id": "abc"}, "UPSTREAM_CLIENT_SECRET"),
    ],
)
def test_an_upstream_without_its_credentials_names_them_and_the_callback(
    identity: str, given: dict, missing: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, identity=identity, **given)
    message = str(refused.value)
    assert f"IDENTITY={identity} needs {missing}:" in message
    assert "http://localhost:4000/oauth2/upstream/callback" in message
