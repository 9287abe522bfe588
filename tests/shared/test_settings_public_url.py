"""``PUBLIC_URL``: one origin for both servers (the one-URL mode of ``mcp_oauth_demo.one_url``)."""

from pathlib import Path

import pytest

from shared.settings import ConfigError, Settings, load_settings

PUBLIC_URL = "https://abc123.ngrok-free.app"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_public_url_is_issuer_base_url_and_resource_origin() -> None:
    settings = load_settings(_env_file=None, public_url=PUBLIC_URL)
    assert settings.auth_issuer == settings.rs_base_url == PUBLIC_URL
    assert settings.mcp_resource == f"{PUBLIC_URL}/mcp"
    assert settings.rs_metadata_url == f"{PUBLIC_URL}/.well-known/oauth-protected-resource/mcp"
    assert settings.as_metadata_url == f"{PUBLIC_URL}/.well-known/oauth-authorization-server"


def test_unset_public_url_keeps_two_urls() -> None:
    settings = load_settings(_env_file=None)
    assert settings.public_url == ""
    assert (settings.rs_base_url, settings.auth_issuer) == ("http://localhost:3000", "http://localhost:4000")


def test_env_file_copied_from_the_example_works_with_public_url(tmp_path: Path) -> None:
    """.env.example spells out the two default URLs; adding PUBLIC_URL to a copy must just work."""
    example = Path(__file__).resolve().parents[2] / ".env.example"
    env_file = tmp_path / ".env"
    env_file.write_text(example.read_text() + f"\nPUBLIC_URL={PUBLIC_URL}\n")
    settings = load_settings(_env_file=env_file)
    assert settings.auth_issuer == settings.rs_base_url == PUBLIC_URL


def test_same_url_in_all_three_is_fine() -> None:
    settings = load_settings(
        _env_file=None, public_url=PUBLIC_URL, rs_base_url=PUBLIC_URL, auth_issuer=PUBLIC_URL
    )
    assert settings.mcp_resource == f"{PUBLIC_URL}/mcp"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"rs_base_url": "https://other.example"}, "remove RS_BASE_URL (PUBLIC_URL sets it)"),
        ({"auth_issuer": "https://other.example"}, "remove AUTH_ISSUER (PUBLIC_URL sets it)"),
        ({"public_url": PUBLIC_URL + "/"}, "ends with '/'; remove the trailing slash"),
        ({"public_url": PUBLIC_URL + "/demo"}, "must not have a path"),
        ({"public_url": "http://abc123.ngrok-free.app"}, "use https"),
        ({"mcp_resource": "http://localhost:3000/mcp"}, "does not start with RS_BASE_URL"),
    ],
)
def test_conflicts_are_one_line_with_the_fix(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, **{"public_url": PUBLIC_URL, **overrides})
    message = str(info.value)
    assert fragment in message and "\n" not in message
