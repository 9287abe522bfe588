"""A client's name is a claim: the consent page says who backs it and flags imitations.

The attack: a client registers (RFC 7591, open to anyone) as "Claude" — or "Сlаudе" with
Cyrillic С, а and е, which renders the same — and hopes the user approves the name they
know. The page must lead with the redirect host (what the MCP spec's security considerations
require it to show), warn on every name no verified host backs, and warn explicitly about
look-alike letters. A metadata document's name is backed by its host, which the page names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import authorize_params, login, register_client, start_authorization
from tests.auth_server.as_support import Documents

CLAUDE_DOC = "https://claude.ai/oauth/mcp-oauth-client-metadata"
CLAUDE_CALLBACK = "https://claude.ai/api/mcp/auth_callback"
CYRILLIC_CLAUDE = "\u0421l\u0430ud\u0435"  # С, а, е are Cyrillic


def consent_page(as_client: TestClient, client_id: str, redirect_uri: str) -> str:
    _, challenge = make_pair()
    response = start_authorization(
        as_client, authorize_params(client_id, challenge, redirect_uri=redirect_uri)
    )
    assert response.status_code == 303, response.text
    page = as_client.get(login(as_client, response.headers["location"]).headers["location"])
    assert page.status_code == 200
    return page.text


def registered_page(as_client: TestClient, name: str) -> str:
    client = register_client(as_client, client_name=name, redirect_uris=["http://127.0.0.1:9000/cb"])
    return consent_page(as_client, client["client_id"], "http://127.0.0.1:9000/cb")


def warnings(page: str) -> set[str]:
    return {
        kind for kind in ("unverified-name", "lookalike", "localhost") if f'data-warning="{kind}"' in page
    }


def test_a_registered_client_calling_itself_claude_is_warned_about(as_client: TestClient) -> None:
    page = registered_page(as_client, "Claude")
    assert warnings(page) == {"unverified-name"}
    assert 'class="warning"' in page
    # The host leads the page, before the name the client chose.
    assert page.index('<strong class="host">127.0.0.1:9000</strong>') < page.index(">Claude<")


@pytest.mark.parametrize(
    ("name", "reads_as"),
    [
        (CYRILLIC_CLAUDE, "Claude"),  # mixed Latin and Cyrillic
        ("\uff23\uff4c\uff41\uff55\uff44\uff45", "Claude"),  # full-width Ｃｌａｕｄｅ
        ("\U0001d402\U0001d425\U0001d41a\U0001d42e\U0001d41d\U0001d41e", "Claude"),  # mathematical bold
        ("\u0430\u0440\u0440\u04cf\u0435", "apple"),  # all Cyrillic: аррӏе
        ("ChatG\u0420\u0422", "ChatGPT"),  # Cyrillic Р and Т
    ],
)
def test_a_lookalike_name_gets_an_explicit_warning(as_client: TestClient, name: str, reads_as: str) -> None:
    page = registered_page(as_client, name)
    assert warnings(page) == {"unverified-name", "lookalike"}
    assert f"reads like “{reads_as}”" in page


def test_hidden_direction_characters_get_a_warning(as_client: TestClient) -> None:
    page = registered_page(as_client, "Notes \u202eedualC")  # displays as "Notes Claude"
    assert "lookalike" in warnings(page) and "text-direction" in page


@pytest.mark.parametrize(
    "name", ["MCP Inspector", "Café Notes", "Notes™", "Привет", "日本語ツール", "Claude 日本"]
)
def test_ordinary_names_in_any_script_are_not_called_lookalikes(as_client: TestClient, name: str) -> None:
    assert "lookalike" not in warnings(registered_page(as_client, name))


def test_a_metadata_document_name_is_backed_by_its_host(as_client: TestClient, documents: Documents) -> None:
    documents.serve(
        CLAUDE_DOC,
        {
            "client_id": CLAUDE_DOC,
            "client_name": "Claude",
            "redirect_uris": [CLAUDE_CALLBACK],
            "token_endpoint_auth_method": "none",
        },
    )
    page = consent_page(as_client, CLAUDE_DOC, CLAUDE_CALLBACK)
    assert warnings(page) == set() and 'class="warning"' not in page
    assert "Name published by <strong>claude.ai</strong>" in page
    assert '<strong class="host">claude.ai</strong>' in page


def test_a_lookalike_name_in_a_document_is_flagged_whoever_publishes_it(
    make_client: Callable[..., TestClient], documents: Documents
) -> None:
    as_client = make_client(
        oauth_allowed_client_metadata_hosts="*", oauth_allowed_redirect_uris="https://tool.example/cb"
    )
    url = "https://tool.example/client.json"
    document: dict[str, Any] = {
        "client_id": url,
        "client_name": CYRILLIC_CLAUDE,
        "redirect_uris": ["https://tool.example/cb"],
        "token_endpoint_auth_method": "none",
    }
    documents.serve(url, document)
    page = consent_page(as_client, url, "https://tool.example/cb")
    assert warnings(page) == {"lookalike"}
    assert "Name published by <strong>tool.example</strong>" in page
