"""Configuration of both servers, read from the environment and an optional ``.env`` file.

One settings class serves the authorization server and the resource server, so that
they agree on the issuer, the resource identifier and the token algorithm. ``AUTH_ISSUER``
and ``MCP_RESOURCE`` stay literal strings: a URL type would add or drop a trailing slash
and then ``iss``/``aud`` would no longer match byte for byte (RFC 8414 §3.3, RFC 9068 §4).

A misconfiguration stops startup with one line naming the variable and the fix
(:func:`load_settings`), never with a traceback.
"""

from __future__ import annotations

import ipaddress
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.jwks import MIN_HS256_SECRET_BYTES

DEFAULT_REDIRECT_URIS = (
    "https://chatgpt.com/connector_platform_oauth_redirect",
    "https://chatgpt.com/connector/oauth/*",
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
)
DEFAULT_CLIENT_METADATA_HOSTS = ("claude.ai", "chatgpt.com", "openai.com")


class ConfigError(ValueError):
    """A setting that cannot work; the message says what is wrong and how to fix it."""


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback IP (127.0.0.0/8, ::1) — RFC 8252 §7.3 and §8.3."""
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(name: str, value: str, *, allow_path: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}={value!r} is not an absolute http(s) URL; set it like https://example.com")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name}={value!r} must not have a query or fragment; remove them")
    if value.endswith("/"):
        raise ConfigError(f"{name}={value!r} ends with '/'; remove the trailing slash")
    if not allow_path and parts.path:
        raise ConfigError(f"{name}={value!r} must not have a path; use only scheme://host[:port]")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{name}={value!r} uses http on a public host; use https (e.g. your ngrok URL) — "
            "OAuth 2.1 requires TLS except on loopback"
        )
    return value


class Settings(BaseSettings):
    """Every variable of SPEC §2; names are the environment variable names, case-insensitive."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    rs_base_url: str = "http://localhost:3000"
    auth_issuer: str = "http://localhost:4000"
    mcp_resource: str = ""  # empty means f"{rs_base_url}/mcp"
    auth_port: int = Field(4000, ge=1, le=65535)
    rs_port: int = Field(3000, ge=1, le=65535)
    # Listen addresses; 0.0.0.0 exposes a server beyond this machine, so it is opt-in.
    auth_host: str = "127.0.0.1"
    rs_host: str = "127.0.0.1"
    access_token_ttl_sec: int = Field(600, ge=10, le=86400)
    auth_code_ttl_sec: int = Field(600, ge=10, le=600)
    refresh_token_ttl_sec: int = Field(2_592_000, ge=60)
    oauth_allowed_redirect_uris: Annotated[tuple[str, ...], NoDecode] = DEFAULT_REDIRECT_URIS
    oauth_allowed_client_metadata_hosts: Annotated[tuple[str, ...], NoDecode] = DEFAULT_CLIENT_METADATA_HOSTS
    tool_auth_challenge: Literal["http", "result", "auto"] = "auto"
    jwt_alg: Literal["ES256", "RS256", "HS256"] = "ES256"
    jwt_secret: str | None = None
    data_dir: Path = Path(".data")
    store: Literal["sqlite", "memory"] = "sqlite"
    # MCP sessions live in one process's memory, so with several RS workers (uvicorn reads
    # WEB_CONCURRENCY) or MCP_STATELESS=true the RS serves every request statelessly.
    web_concurrency: int = Field(1, ge=1, le=64)
    mcp_stateless: bool = False
    # After start-up the RS freezes its start-up objects out of the garbage collector's reach
    # (resource_server/__main__.py says why); false keeps Python's defaults, for comparison.
    rs_gc_tuning: bool = True
    # Signs the AS's login-session and CSRF cookies; generated and kept in DATA_DIR when unset.
    session_secret: str | None = None

    @field_validator("oauth_allowed_redirect_uris", "oauth_allowed_client_metadata_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("rs_base_url")
    @classmethod
    def _check_rs_base_url(cls, value: str) -> str:
        return _check_base_url("RS_BASE_URL", value, allow_path=True)

    @field_validator("auth_issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        return _check_base_url("AUTH_ISSUER", value, allow_path=False)

    @field_validator("oauth_allowed_redirect_uris")
    @classmethod
    def _check_redirects(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for uri in value:
            parts = urlsplit(uri.rstrip("*"))
            if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
                raise ConfigError(
                    f"OAUTH_ALLOWED_REDIRECT_URIS entry {uri!r} is not an absolute URL without fragment; "
                    "list full https:// callback URLs separated by commas"
                )
            if uri.endswith("*") and (parts.scheme != "https" or "*" in uri[:-1]):
                raise ConfigError(
                    f"OAUTH_ALLOWED_REDIRECT_URIS entry {uri!r}: "
                    "a '*' is only allowed at the end of an https URL"
                )
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if not self.mcp_resource:
            self.mcp_resource = f"{self.rs_base_url}/mcp"
        elif (
            not self.mcp_resource.startswith(self.rs_base_url + "/") and self.mcp_resource != self.rs_base_url
        ):
            raise ConfigError(
                f"MCP_RESOURCE={self.mcp_resource!r} does not start with RS_BASE_URL={self.rs_base_url!r}; "
                "unset MCP_RESOURCE to use RS_BASE_URL + '/mcp'"
            )
        elif urlsplit(self.mcp_resource).fragment:
            raise ConfigError("MCP_RESOURCE must not contain a fragment (RFC 8707 §2); remove the '#…' part")
        if self.jwt_alg == "HS256":
            if not self.jwt_secret:
                raise ConfigError(
                    "JWT_ALG=HS256 needs JWT_SECRET; set a random secret of 32+ bytes or use ES256"
                )
            if len(self.jwt_secret.encode()) < MIN_HS256_SECRET_BYTES:
                raise ConfigError(
                    f"JWT_SECRET is shorter than {MIN_HS256_SECRET_BYTES} bytes; "
                    "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
        return self

    @property
    def rs_metadata_url(self) -> str:
        """The path-aware RFC 9728 URL (§3.1) that challenges name and clients try first."""
        path = urlsplit(self.mcp_resource).path
        base = self.rs_base_url[: len(self.rs_base_url) - len(urlsplit(self.rs_base_url).path)]
        return f"{base}/.well-known/oauth-protected-resource{path}"

    @property
    def mcp_sessions_enabled(self) -> bool:
        """Whether the RS hands out ``Mcp-Session-Id`` (only safe with a single worker process)."""
        return not self.mcp_stateless and self.web_concurrency == 1

    @property
    def as_metadata_url(self) -> str:
        return f"{self.auth_issuer}/.well-known/oauth-authorization-server"


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    message = str(first.get("ctx", {}).get("error") or first["msg"])
    if any(name.upper() in message for name in Settings.model_fields):
        return message  # our own validators already name the variable and the fix
    variable = str(first["loc"][0]).upper() if first["loc"] else "configuration"
    return f"{variable}: {message} (got {first.get('input')!r}); see .env.example"


def load_settings(**overrides: object) -> Settings:
    """Read the settings or raise :class:`ConfigError` with a one-line message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; a bad configuration ends the process with one clear line."""
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
