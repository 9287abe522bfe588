"""The five tools (README, "The tools") and the MCP server that offers them.

| tool           | policy   | scopes         |
|----------------|----------|----------------|
| ``auth_show``    | public   | —              |
| ``auth_whoami``  | oauth2   | ``profile:read`` |
| ``notes_list``   | oauth2   | ``notes:read``   |
| ``notes_add``    | oauth2   | ``notes:write``  |
| ``notes_teaser`` | optional | ``notes:read``   |

A client without a token is asked for all three scopes at once (``MCP_CHALLENGE_SCOPES``
narrows that), so one sign-in covers every tool; :mod:`resource_server.tool_policies` explains why.

Each policy sits next to its tool (:meth:`ToolPolicies.tool`); the checks themselves happen
before the tool runs, in :class:`resource_server.authorization.ToolAuthorization`. So a tool
body only asks :func:`~resource_server.authorization.caller` who is calling — an oauth2 tool
can rely on a verified token with its scopes being there. Results are structured
(``structuredContent`` matching the advertised ``outputSchema``) with a short text for the
model and for clients that do not read structured output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from shared.scopes import NOTES_READ, NOTES_WRITE, PROFILE_READ, format_scope
from shared.settings import Settings

from .authorization import caller
from .notes_storage import open_notes_store
from .notes_store import (
    MAX_NOTE_CHARS,
    MAX_REQUEST_ID_CHARS,
    REQUEST_ID_PATTERN,
    Note,
    NoteRejected,
    Notes,
)
from .tool_policies import PUBLIC, ToolPolicies, oauth2, optional
from .verified_tokens import VerifiedToken
from .widget import mcp_apps_extension, openai_widget_resource, widget_tool_meta

SERVER_NAME = "mcp-oauth-demo"
TEASER = (
    "Auth Demo keeps private notes for each signed-in user. Sign in to read yours — "
    "nobody else can see them, and you can add new ones by asking."
)


# ----- Result shapes (they become each tool's outputSchema) -----


class NoteOut(BaseModel):
    id: str
    text: str
    created_at: str = Field(description="ISO 8601, UTC")

    @classmethod
    def of(cls, note: Note) -> NoteOut:
        return cls(id=note.id, text=note.text, created_at=note.created_at)


class ToolPolicyOut(BaseModel):
    name: str
    policy: str
    scopes: list[str]


class AuthShowOut(BaseModel):
    title: str
    resource: str
    authorization_server: str
    resource_metadata: str
    tools: list[ToolPolicyOut]
    sign_in_hint: str


class WhoAmIOut(BaseModel):
    sub: str
    name: str | None
    email: str | None
    client_id: str
    scopes: list[str]
    expires_at: str = Field(description="token expiry, ISO 8601 UTC")
    expires_at_epoch: int = Field(description="token expiry, seconds since the epoch")


class NotesOut(BaseModel):
    notes: list[NoteOut]
    count: int


class TeaserOut(BaseModel):
    signed_in: bool
    subject: str | None = None
    name: str | None = None
    scopes: list[str] | None = None
    notes: list[NoteOut] | None = None
    teaser: str | None = None
    hint: str | None = None


def _result(data: BaseModel, text: str, meta: dict[str, Any] | None = None) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data.model_dump(mode="json"),
        _meta=meta,
    )


@dataclass
class ServerState:
    """What the tools share for the server's lifetime (the SDK's lifespan context).

    The app's lifespan opens and closes it (:func:`resource_server.app.create_app`). The MCP
    server's own lifespan, which each of the app's two session managers enters, only hands it
    out, so both managers share one notes store (with ``STORE=memory``, two stores would be two
    different databases).
    """

    settings: Settings
    notes: Notes = field(init=False)  # set by open(): no I/O until the app starts

    async def open(self) -> None:
        self.notes = await open_notes_store(self.settings)

    async def close(self) -> None:
        await self.notes.aclose()


def _state(ctx: Context) -> ServerState:
    return ctx.request_context.lifespan_context


def _signed_in(ctx: Context) -> VerifiedToken:
    token = caller(ctx)
    if token is None:  # unreachable behind ToolAuthorization; a guard should the layer ever be bypassed
        raise ToolError("This tool needs sign-in.")
    return token


def _claim(token: VerifiedToken, name: str) -> str | None:
    """An optional string claim (``name``, ``email``): absent or not a string gives ``None``."""
    value = token.claims.get(name)
    return value if isinstance(value, str) else None


def _whoami(token: VerifiedToken) -> CallToolResult:
    data = WhoAmIOut(
        sub=token.subject,
        name=_claim(token, "name"),
        email=_claim(token, "email"),
        client_id=token.client_id,
        scopes=format_scope(token.scopes).split(),
        expires_at=token.expires_at_iso,
        expires_at_epoch=token.expires_at,
    )
    who = f"{data.name or data.sub} ({data.email or 'no email'})"
    text = f"You are {who}, signed in through {data.client_id}; "
    text += f"scopes: {' '.join(data.scopes) or '(none)'}; the token expires at {data.expires_at}."
    return _result(data, text)


async def _teaser(token: VerifiedToken | None, notes: Notes) -> CallToolResult:
    """The public teaser for an anonymous caller; the caller's notes once signed in with ``notes:read``."""
    if token is None:
        data = TeaserOut(signed_in=False, teaser=TEASER, hint="Sign in to see your own notes.")
        return _result(data, TEASER)
    identity: dict[str, Any] = {
        "signed_in": True,
        "subject": token.subject,
        "name": _claim(token, "name"),
        "scopes": format_scope(token.scopes).split(),
    }
    if not token.has_scopes([NOTES_READ]):
        hint = f"You are signed in without {NOTES_READ}; sign in again and allow it to see your notes."
        return _result(TeaserOut(**identity, teaser=TEASER, hint=hint), f"{TEASER} {hint}")
    listed = [NoteOut.of(note) for note in await notes.list(token.subject)]
    return _result(TeaserOut(**identity, notes=listed), f"You have {len(listed)} note(s).")


def build_mcp_server(settings: Settings, state: ServerState) -> tuple[MCPServer[ServerState], ToolPolicies]:
    """The SDK server with the five tools, the widget resources and their policies."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        yield state

    # What a 401 asks for: MCP_CHALLENGE_SCOPES, or (unset) every scope the tools below use.
    policies = ToolPolicies(settings.challenge_scopes)
    server: MCPServer[ServerState] = MCPServer(
        SERVER_NAME,
        title="Auth Demo",
        instructions=(
            "Private notes behind OAuth. auth_show opens the widget; auth_whoami, notes_list and notes_add "
            "need sign-in; notes_teaser works for everyone and shows the caller's notes once signed in."
        ),
        lifespan=lifespan,
        # The SDK logs every stateless request at INFO; uvicorn's access log already says enough.
        log_level="WARNING",
        extensions=[mcp_apps_extension()],
        middleware=[policies.publish_security_schemes],
    )
    server.add_resource(openai_widget_resource())
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @policies.tool(
        server,
        PUBLIC,
        name="auth_show",
        title="Show the Auth Demo",
        description="Open the Auth Demo widget: sign-in state, identity and notes (or a public teaser).",
        annotations=read_only,
        meta=widget_tool_meta("Opening the Auth Demo…", "Auth Demo ready"),
    )
    async def auth_show() -> Annotated[CallToolResult, AuthShowOut]:
        data = AuthShowOut(
            title="Auth Demo",
            resource=settings.mcp_resource,
            authorization_server=settings.auth_issuer,
            resource_metadata=settings.rs_metadata_url,
            tools=[ToolPolicyOut(name=name, policy=p.kind, scopes=list(p.scopes)) for name, p in policies],
            sign_in_hint="Ask for your notes or who you are; your client will offer to sign you in.",
        )
        text = (
            "Auth Demo: " + ", ".join(f"{t.name} ({t.policy})" for t in data.tools) + ". " + data.sign_in_hint
        )
        return _result(data, text, meta=widget_tool_meta("Opening the Auth Demo…", "Auth Demo ready"))

    @policies.tool(
        server,
        oauth2(PROFILE_READ),
        name="auth_whoami",
        title="Who am I?",
        description="The signed-in user's id, name and email, the client, the granted scopes, token expiry.",
        annotations=read_only,
    )
    async def auth_whoami(ctx: Context) -> Annotated[CallToolResult, WhoAmIOut]:
        return _whoami(_signed_in(ctx))

    @policies.tool(
        server,
        oauth2(NOTES_READ),
        name="notes_list",
        title="List my notes",
        description="The signed-in user's private notes, newest first.",
        annotations=read_only,
    )
    async def notes_list(ctx: Context) -> Annotated[CallToolResult, NotesOut]:
        notes = await _state(ctx).notes.list(_signed_in(ctx).subject)
        data = NotesOut(notes=[NoteOut.of(note) for note in notes], count=len(notes))
        text = "\n".join(f"- {n.text} ({n.created_at})" for n in data.notes) or "You have no notes yet."
        return _result(data, text)

    @policies.tool(
        server,
        oauth2(NOTES_WRITE),
        name="notes_add",
        title="Add a note",
        description=(
            f"Save a private note for the signed-in user (1–{MAX_NOTE_CHARS:,} characters). "
            "To retry safely after a lost answer, pass the same request_id (any fresh id of yours, "
            "e.g. a UUID) with the same text: the note is then stored once and the retry returns it. "
            "Reusing a request_id with a different text is an error."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    )
    async def notes_add(
        ctx: Context,
        text: Annotated[str, Field(description=f"the note, 1–{MAX_NOTE_CHARS:,} characters")],
        request_id: Annotated[
            str | None,
            Field(
                description=(
                    f"optional idempotency key chosen by the client: 1–{MAX_REQUEST_ID_CHARS} letters, "
                    "digits or . _ : - ; the same key returns the note stored with it, not a second copy"
                ),
                # Advertised in the schema; notes_store checks it, with a message that says how to fix it.
                json_schema_extra={"maxLength": MAX_REQUEST_ID_CHARS, "pattern": REQUEST_ID_PATTERN},
            ),
        ] = None,
    ) -> Annotated[CallToolResult, NoteOut]:
        try:
            note, created = await _state(ctx).notes.add(_signed_in(ctx).subject, text, request_id=request_id)
        except NoteRejected as exc:
            raise ToolError(str(exc)) from exc
        if created:
            return _result(NoteOut.of(note), f"Saved note {note.id} at {note.created_at}.")
        return _result(
            NoteOut.of(note), f"Already saved as note {note.id} at {note.created_at} (same request_id)."
        )

    @policies.tool(
        server,
        optional(NOTES_READ),
        name="notes_teaser",
        title="Notes teaser",
        description="Anyone: a public teaser. Signed in with notes:read: your notes.",
        annotations=read_only,
    )
    async def notes_teaser(ctx: Context) -> Annotated[CallToolResult, TeaserOut]:
        return await _teaser(caller(ctx), _state(ctx).notes)

    return server, policies
