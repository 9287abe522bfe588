"""Sign-in through GitHub (``IDENTITY=github``): a GitHub OAuth app, not OpenID Connect.

GitHub issues no ID token, so who the user is comes from its REST API with the access token
of one authorization code: ``GET /user`` (the stable numeric ``id``, ``login``, ``name``) and
``GET /user/emails`` for a *verified* primary email (the ``user:email`` scope). The code
flow carries PKCE S256 and our single-use ``state`` (``upstream_trip.py``), exactly as for
OpenID Connect; the access token is used for those two calls and dropped.

``UPSTREAM_GITHUB_URL`` (authorize and token) and ``UPSTREAM_GITHUB_API_URL`` default to
github.com and api.github.com; GitHub Enterprise and the tests set them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from auth_server.upstream import UPSTREAM_TIMEOUT_SEC, UpstreamError, UpstreamIdentity
from shared.pkce import s256_challenge
from shared.settings import Settings

SCOPES = "read:user user:email"


class GitHubUpstream:
    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.upstream_github_url
        self._api = settings.upstream_github_api_url
        self.client_id = settings.upstream_client_id
        self._client_secret = settings.upstream_client_secret
        self.redirect_uri = settings.upstream_callback_url

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        """GitHub's authorize URL; ``nonce`` is an OpenID Connect parameter and has no use here."""
        query = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPES,
            "state": state,
            "code_challenge": s256_challenge(code_verifier),
            "code_challenge_method": "S256",
            "allow_signup": "false",
        }
        return f"{self.issuer}/login/oauth/authorize?{urlencode(query)}"

    async def identity(self, *, code: str, code_verifier: str, nonce: str) -> UpstreamIdentity:
        async with httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT_SEC) as http:
            try:
                answer = await http.post(
                    f"{self.issuer}/login/oauth/access_token",
                    data={
                        "client_id": self.client_id,
                        "client_secret": self._client_secret,
                        "code": code,
                        "redirect_uri": self.redirect_uri,
                        "code_verifier": code_verifier,
                    },
                    headers={"Accept": "application/json"},
                )
                token = _json(answer)
                if not isinstance(token.get("access_token"), str):
                    # GitHub answers 200 with {"error": "bad_verification_code"} and the like.
                    raise UpstreamError(
                        "GitHub refused this AS",
                        f"Its token endpoint answered {token.get('error') or answer.status_code!r}. If it is "
                        "incorrect_client_credentials, the operator should check UPSTREAM_CLIENT_ID and "
                        "UPSTREAM_CLIENT_SECRET; otherwise sign in again.",
                    )
                headers = {
                    "Authorization": f"Bearer {token['access_token']}",
                    "Accept": "application/vnd.github+json",
                }
                user = _json(await http.get(f"{self._api}/user", headers=headers))
                emails = (await http.get(f"{self._api}/user/emails", headers=headers)).json()
            except httpx.HTTPError as exc:
                raise UpstreamError(
                    "GitHub cannot be reached",
                    f"A call to GitHub failed ({type(exc).__name__}); try again in a moment.",
                ) from None
            except ValueError:
                raise UpstreamError(
                    "GitHub answered nonsense", "An answer was not JSON; try again."
                ) from None
        if not isinstance(user.get("id"), int) or not isinstance(user.get("login"), str):
            raise UpstreamError("GitHub answered nonsense", "Its /user answer has no id and login.")
        verified = [
            entry
            for entry in (emails if isinstance(emails, list) else [])
            if isinstance(entry, dict)
            and entry.get("verified") is True
            and isinstance(entry.get("email"), str)
        ]
        chosen = next(
            (entry for entry in verified if entry.get("primary")), verified[0] if verified else None
        )
        return UpstreamIdentity(
            issuer=self.issuer,
            subject=str(user["id"]),  # the login can be renamed; the id cannot
            name=str(user.get("name") or user["login"]),
            email=str(chosen["email"]).lower() if chosen else "",
            email_verified=chosen is not None,
            login=user["login"],
            kind="github",
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body
