"""MCP sessions where they help, statelessness where they hurt (MCP transports, "Session Management").

The 2025-06-18 and 2025-11-25 revisions of streamable HTTP let a server hand out an
``Mcp-Session-Id`` on ``initialize``; a client then sends it on every request, and may open
``GET`` SSE streams for server-to-client messages. The 2026-07-28 revision drops the handshake:
every request stands alone. Real clients mix both: ChatGPT's tool scanner, benchmarks and
simple scripts post ``tools/call`` with no session at all.

So the RS runs the SDK's session manager twice over one MCP server:

* requests that carry ``Mcp-Session-Id``, and ``initialize`` requests, go to the **stateful**
  manager, which issues and tracks sessions (what MCP Inspector, Claude and the conformance
  suite's session scenarios expect);
* every other request goes to the **stateless** manager, which answers it on its own.

Which is which — the session id, the JSON-RPC method, the bearer token — this module reads from
the :class:`~resource_server.mcp_requests.McpRequest` that the reader in front left in the
scope, and the caller of a tool call from :func:`resource_server.authorization.verified_caller`.

Sessions live in one process's memory. With several worker processes (``WEB_CONCURRENCY`` > 1)
a session opened in one worker is unknown to the next, so there — or with
``MCP_STATELESS=true`` — no sessions are issued at all and every request is stateless: clients
simply see an ``initialize`` answer without ``Mcp-Session-Id`` and carry on without one.

Who may end a session
---------------------

Threat: the session id is all the SDK asks for. Whoever learns it — from a log line, a proxy, a
shared screen — can ``DELETE /mcp`` the session of a signed-in user (denial of service), or take
its one ``GET`` stream (the transport allows a single stream per session, so the owner's own
stream is then refused) and read what the server sends there.

Answer, :class:`SessionOwners`:

* A session becomes **owned** by the ``sub`` of the first verified access token used in it:
  the token sent with ``initialize`` when it is valid (an invalid one is ignored there, as on
  every discovery request), else the first tool call that :mod:`resource_server.authorization`
  verified. The owner never changes.
* ``DELETE`` and ``GET`` of an owned session — the requests that act on the session as a
  whole — need a valid token of that ``sub``: without one, 401 with a Bearer challenge
  (RFC 6750 §3); with another user's, 403. A tool call verified for another user is refused
  with 403 too: one session, one user. Token-less POSTs (``tools/list``, public tools) still
  pass — they carry no authority and each one only gets its own answer.
* An **anonymous** session (no token ever verified in it) can be ended by whoever holds its id.
  Demanding a token there would lock out clients that never sign in (a public-tools-only
  client could never end its session, which the transport asks clients to do), while such a
  session holds no user's data and no authority: ending it costs its holder one ``initialize``.
  The id itself is 128 random bits that only travel between the client and this server.

Ownership is kept beside the SDK's own record of the session (its transport object, held
weakly), so it ends exactly when the SDK forgets the session — by ``DELETE``, idle timeout or
shutdown — and never outgrows the SDK's own session limit.
"""

from __future__ import annotations

import json
from weakref import WeakKeyDictionary

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import INVALID_REQUEST
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from shared.tokens import InvalidToken

from . import challenges
from .authorization import verified_caller
from .mcp_requests import mcp_request
from .token_verifier import TokenVerifier

_SESSION_HEADER = MCP_SESSION_ID_HEADER.lower().encode("ascii")
_WHOLE_SESSION_METHODS = ("GET", "DELETE")  # they act on the session, not on one request


class SessionRouter:
    """ASGI app that hands each ``/mcp`` request to the stateful or the stateless manager."""

    def __init__(
        self,
        stateless: StreamableHTTPSessionManager,
        sessions: StreamableHTTPSessionManager | None,
        *,
        verifier: TokenVerifier,
        resource_metadata_url: str,
    ) -> None:
        self.stateless = stateless
        self.sessions = sessions
        # Every request for the stateful manager passes the owner check first.
        self.owners = (
            SessionOwners(sessions, verifier=verifier, resource_metadata_url=resource_metadata_url)
            if sessions is not None
            else None
        )

    def manager_for(self, scope: Scope) -> StreamableHTTPSessionManager:
        if self.sessions is None:
            return self.stateless
        request = mcp_request(scope)
        if request.session_id is not None or request.method == "initialize":
            return self.sessions
        return self.stateless

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self.manager_for(scope)
        if manager is self.sessions and self.owners is not None:
            await self.owners(scope, receive, send)
            return
        await manager.asgi_app(scope, receive, send)


class SessionOwners:
    """ASGI app in front of the stateful manager: who owns each live session, and the owner check."""

    def __init__(
        self, manager: StreamableHTTPSessionManager, *, verifier: TokenVerifier, resource_metadata_url: str
    ) -> None:
        self.manager = manager
        self.verifier = verifier
        self.resource_metadata_url = resource_metadata_url
        self._owner: WeakKeyDictionary[StreamableHTTPServerTransport, str] = WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = mcp_request(scope).session_id
        if session_id is None:  # initialize, which opens a session
            subject = await self._token_subject(scope)
            if subject is not None:
                send = self._claim_when_opened(subject, send)
            await self.manager.asgi_app(scope, receive, send)
            return

        transport = self._transport(session_id)
        if transport is not None:
            refusal = await self._refusal(transport, scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.manager.asgi_app(scope, receive, send)

    def owner_of(self, session_id: str) -> str | None:
        """The ``sub`` owning a live session; ``None`` for an anonymous or unknown one."""
        transport = self._transport(session_id)
        return self._owner.get(transport) if transport is not None else None

    def _transport(self, session_id: str) -> StreamableHTTPServerTransport | None:
        # The SDK keeps no public registry of its sessions; an id it does not know gets its 404.
        return self.manager._server_instances.get(session_id)

    async def _refusal(self, transport: StreamableHTTPServerTransport, scope: Scope) -> Response | None:
        owner = self._owner.get(transport)
        if scope["method"] in _WHOLE_SESSION_METHODS:
            if owner is None:
                return None  # an anonymous session: its id is all there is (see above)
            return await self._owner_check(owner, scope)
        caller = verified_caller(scope)  # a tool call authorization has just verified
        if caller is None:
            return None
        if owner is None:
            self._owner[transport] = caller.subject
            return None
        return None if caller.subject == owner else _another_users_session()

    async def _owner_check(self, owner: str, scope: Scope) -> Response | None:
        action = "end" if scope["method"] == "DELETE" else "listen on"
        token = mcp_request(scope).bearer_token
        if not token:
            return self._unauthorized(
                f"this MCP session belongs to a signed-in user; send their access token "
                f"(Authorization: Bearer) to {action} it",
                challenge=challenges.Challenge(status=401, message=""),
            )
        try:
            verified = await self.verifier.verify(token)
        except InvalidToken as exc:
            return self._unauthorized(
                f"the access token cannot be used to {action} this MCP session: {exc.description}",
                challenge=challenges.Challenge(
                    status=401, message="", error="invalid_token", description=exc.description
                ),
            )
        return None if verified.subject == owner else _another_users_session()

    def _unauthorized(self, message: str, *, challenge: challenges.Challenge) -> Response:
        header = challenges.www_authenticate(challenge, self.resource_metadata_url)
        return _jsonrpc_error(401, message, headers={"WWW-Authenticate": header})

    async def _token_subject(self, scope: Scope) -> str | None:
        """The ``sub`` of a valid token on this request; ``None`` for none or an invalid one."""
        token = mcp_request(scope).bearer_token
        if not token:
            return None
        try:
            return (await self.verifier.verify(token)).subject
        except InvalidToken:
            return None

    def _claim_when_opened(self, subject: str, send: Send) -> Send:
        """A ``send`` that records ``subject`` as owner once the SDK answers with a new session id."""

        async def claiming_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                for name, value in message.get("headers", []):
                    if name.lower() == _SESSION_HEADER:
                        transport = self._transport(value.decode("latin-1"))
                        if transport is not None:
                            self._owner.setdefault(transport, subject)
            await send(message)

        return claiming_send


def _another_users_session() -> Response:
    return _jsonrpc_error(
        403,
        "this MCP session belongs to another user; initialize a new session for your own sign-in",
    )


def _jsonrpc_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON-RPC error without request id, the shape the SDK gives its own session errors."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}}
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)
