"""Configuration of both servers, read from the environment and an optional ``.env`` file.

One settings class serves the authorization server and the resource server, so that
they agree on the issuer, the resource identifier and the token algorithm. ``AUTH_ISSUER``
and ``MCP_RESOURCE`` stay literal strings: a URL type would add or drop a trailing slash
and then ``iss``/``aud`` would no longer match byte for byte (RFC 8414 §3.3, RFC 9068 §4).

``PUBLIC_URL`` is the one-URL mode (:mod:`mcp_oauth_demo.one_url`): both servers behind one
origin, so it stands for ``AUTH_ISSUER`` and ``RS_BASE_URL`` at once (and ``MCP_RESOURCE`` follows
as ``PUBLIC_URL/mcp``). It has no path, because it is the issuer (RFC 8414 §2).

A misconfiguration stops startup with one line naming the variable and the fix
(:func:`load_settings`), never with a traceback.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.config_error import ConfigError
from shared.jwks import MIN_HS256_SECRET_BYTES
from shared.scopes import (
    OFFLINE_ACCESS,
    RESOURCE_SCOPES,
    ScopeError,
    format_scope,
    parse_scope,
    unknown_scopes,
)

DEFAULT_REDIRECT_URIS = (
    "https://chatgpt.com/connector_platform_oauth_redirect",
    "https://chatgpt.com/connector/oauth/*",
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
)
DEFAULT_CLIENT_METADATA_HOSTS = ("claude.ai", "chatgpt.com", "openai.com")
MIN_TRACE_KEY_CHARS = 16
DEFAULT_DEMO_USERS = "alex:password,sam:password"
_DEMO_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


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


def parse_host_overrides(value: str) -> dict[str, tuple[str, int]]:
    """``OAUTH_FETCH_HOST_OVERRIDES``: ``host=ip:port`` entries (``[v6]:port`` for IPv6), comma-separated."""
    overrides: dict[str, tuple[str, int]] = {}
    for entry in (item.strip() for item in value.split(",")):
        if not entry:
            continue
        host, _, target = entry.partition("=")
        address, _, port = target.strip().rpartition(":")
        address = address.strip("[]")
        try:
            ipaddress.ip_address(address)
            port_number = int(port)
        except ValueError:
            port_number = 0
        if not host.strip() or not 1 <= port_number <= 65535:
            raise ConfigError(
                f"OAUTH_FETCH_HOST_OVERRIDES entry {entry!r} is not host=ip:port; write e.g. "
                "claude.ai=127.0.0.1:8443 (an IPv6 address in brackets: claude.ai=[::1]:8443)"
            )
        overrides[host.strip().lower()] = (address, port_number)
    return overrides


def parse_demo_users(value: str) -> list[tuple[str, str]]:
    """``DEMO_USERS``: ``username:password`` entries, comma-separated (usernames in lower case)."""
    users: list[tuple[str, str]] = []
    for entry in (item.strip() for item in value.split(",")):
        if not entry:
            continue
        username, colon, password = entry.partition(":")
        username = username.strip()
        if not colon or not password or not _DEMO_USERNAME.fullmatch(username):
            raise ConfigError(
                f"DEMO_USERS entry {entry.split(':')[0]!r}: write username:password, the username in lower "
                "case letters, digits, '.', '_' or '-' (at most 32), the password not empty — "
                f"e.g. DEMO_USERS={DEFAULT_DEMO_USERS}"
            )
        if any(username == known for known, _ in users):
            raise ConfigError(f"DEMO_USERS names {username!r} twice; keep one entry per user")
        users.append((username, password))
    if not users:
        raise ConfigError(
            f"DEMO_USERS is empty: nobody could sign in; set e.g. DEMO_USERS={DEFAULT_DEMO_USERS}"
        )
    return users


class SettingsFields(BaseSettings):
    """Every variable of ``.env.example``, read but not checked; :class:`Settings` adds the checks.

    Names are the environment variable names, case-insensitive. The doctor reads a broken
    setup with this class, so that it can still look at it (``mcp_oauth_demo.doctor``).
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    rs_base_url: str = "http://localhost:3000"
    auth_issuer: str = "http://localhost:4000"
    # One origin for both servers (one-URL mode): sets rs_base_url and auth_issuer; empty = two URLs.
    public_url: str = ""
    mcp_resource: str = ""  # empty means f"{rs_base_url}/mcp"
    auth_port: int = Field(4000, ge=1, le=65535)
    rs_port: int = Field(3000, ge=1, le=65535)
    # Listen addresses; 0.0.0.0 exposes a server beyond this machine, so it is opt-in.
    auth_host: str = "127.0.0.1"
    rs_host: str = "127.0.0.1"
    access_token_ttl_sec: int = Field(600, ge=10, le=86400)
    # The longest exp - iat the RS accepts. One day is the most ACCESS_TOKEN_TTL_SEC allows, so
    # this project's AS never mints a token its RS refuses, even when the two read different
    # environments; what it stops is a token from a buggy issuer or a leaked key that lives for years.
    max_token_lifetime_sec: int = Field(86400, ge=60, le=86400 * 7)
    auth_code_ttl_sec: int = Field(600, ge=10, le=600)
    refresh_token_ttl_sec: int = Field(2_592_000, ge=60)
    oauth_allowed_redirect_uris: Annotated[tuple[str, ...], NoDecode] = DEFAULT_REDIRECT_URIS
    oauth_allowed_client_metadata_hosts: Annotated[tuple[str, ...], NoDecode] = DEFAULT_CLIENT_METADATA_HOSTS
    # Testing aid: "host=ip:port,…" sends the AS's fetches for a host to an address of the
    # operator's choosing (no DNS, no public-address check); see auth_server.public_fetch.
    oauth_fetch_host_overrides: Annotated[dict[str, tuple[str, int]], NoDecode] = Field(default_factory=dict)
    tool_auth_challenge: Literal["http", "result", "auto"] = "auto"
    # The scopes a 401 asks for, space-separated; empty means every scope the tools use
    # (resource_server.tool_policies explains the strategy). See challenge_scopes.
    mcp_challenge_scopes: str = ""
    jwt_alg: Literal["ES256", "RS256", "HS256"] = "ES256"
    jwt_secret: str | None = None
    data_dir: Path = Path(".data")
    store: Literal["sqlite", "memory"] = "sqlite"
    # PostgreSQL for everything durable of both servers (postgresql://user:pass@host:5432/db),
    # shared by every worker and instance; empty = SQLite files under DATA_DIR (or STORE=memory).
    database_url: str = ""

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        value = value.strip()
        if value and urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ConfigError(
                "DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/dbname), "
                "or empty for SQLite under DATA_DIR"
            )
        return value

    @property
    def database_engine(self) -> Literal["postgresql", "sqlite", "memory"]:
        """Which engine keeps the servers' durable state: DATABASE_URL wins over STORE."""
        return "postgresql" if self.database_url else self.store

    # MCP sessions live in one process's memory, so with several RS workers (uvicorn reads
    # WEB_CONCURRENCY) or MCP_STATELESS=true the RS serves every request statelessly.
    web_concurrency: int = Field(1, ge=1, le=64)
    mcp_stateless: bool = False
    # After start-up the RS freezes its start-up objects out of the garbage collector's reach
    # (resource_server/__main__.py says why); false keeps Python's defaults, for comparison.
    rs_gc_tuning: bool = True
    # Signs the AS's login-session and CSRF cookies; generated and kept in DATA_DIR when unset.
    session_secret: str | None = None
    # --- Identity: who may sign in on the AS's login page (auth_server.users) ---
    # username:password pairs, comma-separated; two users so that isolation between them shows.
    demo_users: str = DEFAULT_DEMO_USERS
    # demo: the DEMO_USERS above; oidc: any OpenID Connect provider (auth_server.upstream), after
    # this AS's own consent page. The upstream's tokens never leave the AS, and none is kept.
    identity: Literal["demo", "oidc", "github"] = "demo"
    upstream_issuer: str = ""  # e.g. https://accounts.google.com; discovery at its /.well-known/
    upstream_client_id: str = ""
    upstream_client_secret: str = ""
    upstream_scopes: str = "openid email profile"
    # Who may sign in through the upstream (empty = anyone it knows): exact emails, email domains.
    allowed_emails: Annotated[tuple[str, ...], NoDecode] = ()
    allowed_email_domains: Annotated[tuple[str, ...], NoDecode] = ()
    # IDENTITY=github (a GitHub OAuth app); overridable for GitHub Enterprise and for tests.
    upstream_github_url: str = "https://github.com"
    upstream_github_api_url: str = "https://api.github.com"
    allowed_github_users: Annotated[tuple[str, ...], NoDecode] = ()
    # --- Trace (shared.trace): every protocol exchange, for GET /trace and `mcp-oauth-demo trace` ---
    trace: bool = True  # TRACE=off records nothing
    # Opens GET /trace on the AS (?key= or Authorization: Bearer); random per start when unset.
    trace_key: str = Field(default_factory=lambda: secrets.token_urlsafe(24))
    trace_max_events: int = Field(5000, ge=100, le=1_000_000)
    trace_max_age_sec: int = Field(86400, ge=60)
    log_format: Literal["text", "json"] = "text"  # json: each trace event is also a JSON line on stderr

    @field_validator("trace_key", mode="before")
    @classmethod
    def _check_trace_key(cls, value: object) -> object:
        if value in (None, ""):
            return secrets.token_urlsafe(24)
        if isinstance(value, str) and len(value) < MIN_TRACE_KEY_CHARS:
            raise ConfigError(
                f"TRACE_KEY is shorter than {MIN_TRACE_KEY_CHARS} characters: the trace shows who connected; "
                "unset it (a random key is printed at start) or use python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(24))'"
            )
        return value

    @field_validator("oauth_allowed_redirect_uris", "oauth_allowed_client_metadata_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("allowed_emails", "allowed_email_domains", "allowed_github_users", mode="before")
    @classmethod
    def _split_lower_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip().lower().lstrip("@") for item in value.split(",") if item.strip())
        return value

    @property
    def upstream_callback_url(self) -> str:
        """Where the upstream provider sends the browser back: register it at the provider."""
        return f"{self.auth_issuer}/oauth2/upstream/callback"

    @field_validator("oauth_fetch_host_overrides", mode="before")
    @classmethod
    def _parse_host_overrides(cls, value: object) -> object:
        return parse_host_overrides(value) if isinstance(value, str) else value

    @property
    def rs_metadata_url(self) -> str:
        """The path-aware RFC 9728 URL (§3.1) that challenges name and clients try first."""
        path = urlsplit(self.mcp_resource).path
        base = self.rs_base_url[: len(self.rs_base_url) - len(urlsplit(self.rs_base_url).path)]
        return f"{base}/.well-known/oauth-protected-resource{path}"

    @property
    def challenge_scopes(self) -> tuple[str, ...] | None:
        """``MCP_CHALLENGE_SCOPES`` as scopes; ``None`` when unset (the RS then uses every tool scope)."""
        return tuple(self.mcp_challenge_scopes.split()) or None

    @property
    def mcp_sessions_enabled(self) -> bool:
        """Whether the RS hands out ``Mcp-Session-Id`` (only safe with a single worker process)."""
        return not self.mcp_stateless and self.web_concurrency == 1

    @property
    def as_metadata_url(self) -> str:
        return f"{self.auth_issuer}/.well-known/oauth-authorization-server"


class Settings(SettingsFields):
    """:class:`SettingsFields` plus the checks that stop a server starting with a setting that cannot work.

    Each check raises :class:`ConfigError` naming the variable and the fix (see :func:`load_settings`).
    """

    @field_validator("rs_base_url")
    @classmethod
    def _check_rs_base_url(cls, value: str) -> str:
        return _check_base_url("RS_BASE_URL", value, allow_path=True)

    @field_validator("auth_issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        return _check_base_url("AUTH_ISSUER", value, allow_path=False)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        # The issuer part of PUBLIC_URL forbids a path: RFC 8414 metadata sits at the origin's root.
        return _check_base_url("PUBLIC_URL", value, allow_path=False) if value else value

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

    @field_validator("demo_users")
    @classmethod
    def _check_demo_users(cls, value: str) -> str:
        parse_demo_users(value)
        return value

    @field_validator("mcp_challenge_scopes")
    @classmethod
    def _check_challenge_scopes(cls, value: str) -> str:
        try:
            scopes = parse_scope(value)
        except ScopeError as exc:
            raise ConfigError(
                f"MCP_CHALLENGE_SCOPES={value!r}: {exc}; list scopes separated by spaces, "
                f"e.g. {format_scope(RESOURCE_SCOPES)!r}"
            ) from None
        if OFFLINE_ACCESS in scopes:
            raise ConfigError(
                f"MCP_CHALLENGE_SCOPES must not contain {OFFLINE_ACCESS}: a refresh token is not a resource "
                "scope (MCP authorization, 'Refresh Tokens'); clients ask for it themselves — remove it"
            )
        unknown = unknown_scopes(scopes, RESOURCE_SCOPES)
        if unknown:
            raise ConfigError(
                f"MCP_CHALLENGE_SCOPES names unknown scope(s) {format_scope(unknown)!r}; "
                f"use only {format_scope(RESOURCE_SCOPES)!r}, or leave it empty for all of them"
            )
        return format_scope(scopes)

    @model_validator(mode="after")
    def _apply_public_url(self) -> Settings:
        """``PUBLIC_URL`` becomes the issuer and the RS base URL; runs before the checks below."""
        if not self.public_url:
            return self
        for name in ("rs_base_url", "auth_issuer"):
            value, default = getattr(self, name), type(self).model_fields[name].default
            # The default is what .env.example spells out, so only a deliberate other URL conflicts.
            if value not in (default, self.public_url):
                raise ConfigError(
                    f"PUBLIC_URL={self.public_url!r} serves both servers, but {name.upper()}={value!r}; "
                    f"remove {name.upper()} (PUBLIC_URL sets it) or unset PUBLIC_URL for two URLs"
                )
            setattr(self, name, self.public_url)
        return self

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
        if self.identity == "oidc":
            self._check_upstream()
        if self.identity == "github":
            self._check_github()
        if self.max_token_lifetime_sec < self.access_token_ttl_sec:
            raise ConfigError(
                f"MAX_TOKEN_LIFETIME_SEC={self.max_token_lifetime_sec} is shorter than "
                f"ACCESS_TOKEN_TTL_SEC={self.access_token_ttl_sec}: the RS would refuse every token "
                "the AS issues; raise MAX_TOKEN_LIFETIME_SEC or lower ACCESS_TOKEN_TTL_SEC"
            )
        if self.jwt_alg == "HS256":
            if not self.jwt_secret:
                raise ConfigError(
                    "JWT_ALG=HS256 needs JWT_SECRET; set a random secret of 32+ bytes or use ES256"
                )
            if len(self.jwt_secret.encode()) < MIN_HS256_SECRET_BYTES:
                raise ConfigError(
                    f"JWT_SECRET is shorter than {MIN_HS256_SECRET_BYTES} bytes; "
                    "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
        return self

    def _unset(self, *names: str) -> list[str]:
        """The variables among ``names`` that have no value, as a person spells them."""
        return [name.upper() for name in names if not getattr(self, name)]

    def _check_github(self) -> None:
        if missing := self._unset("upstream_client_id", "upstream_client_secret"):
            raise ConfigError(
                f"IDENTITY=github needs {', '.join(missing)}: create a GitHub OAuth app (Settings → "
                f"Developer settings → OAuth Apps) with the callback URL {self.upstream_callback_url}"
            )
        _check_base_url("UPSTREAM_GITHUB_URL", self.upstream_github_url, allow_path=True)
        _check_base_url("UPSTREAM_GITHUB_API_URL", self.upstream_github_api_url, allow_path=True)

    def _check_upstream(self) -> None:
        if missing := self._unset("upstream_issuer", "upstream_client_id", "upstream_client_secret"):
            raise ConfigError(
                f"IDENTITY=oidc needs {', '.join(missing)}: register an OAuth client at your provider with "
                f"the redirect URI {self.upstream_callback_url} and copy its issuer, client id and secret"
            )
        _check_base_url("UPSTREAM_ISSUER", self.upstream_issuer, allow_path=True)
        if "openid" not in self.upstream_scopes.split():
            raise ConfigError(
                f"UPSTREAM_SCOPES={self.upstream_scopes!r} lacks 'openid': without it there is no ID token; "
                "use e.g. 'openid email profile'"
            )


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


def startup_warnings(settings: Settings) -> list[str]:
    """What each server prints at start-up about a setting that is valid but unsafe outside a demo."""
    warnings = []
    if settings.jwt_alg == "HS256":
        warnings.append(
            "JWT_ALG=HS256 is a demo mode: tokens are signed with the shared JWT_SECRET, so anyone who "
            "has it can mint tokens; use JWT_ALG=ES256 (the default) anywhere but on one machine"
        )
    if settings.database_engine == "memory" and settings.web_concurrency > 1:
        warnings.append(
            f"STORE=memory with WEB_CONCURRENCY={settings.web_concurrency}: each worker has a memory of its "
            "own, so a client registered by one is unknown to the next; use STORE=sqlite or DATABASE_URL"
        )
    return warnings


def storage_description(settings: Settings) -> str:
    """The startup banner's line on where state lives and how many processes share it."""
    workers = f"{settings.web_concurrency} worker{'s' if settings.web_concurrency > 1 else ''}"
    if settings.database_url:
        from shared.postgres import describe

        return f"PostgreSQL {describe(settings.database_url)}, {workers}"
    if settings.store == "memory":
        return f"in memory (STORE=memory: gone on exit), {workers}"
    return f"SQLite under DATA_DIR={settings.data_dir}, {workers}"
