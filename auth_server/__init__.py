"""The demo's OAuth 2.1 authorization server (MCP authorization, RFC 6749, RFC 8414, RFC 7591).

Read it in the order a client meets it:

1. ``metadata``                  — discovery (RFC 8414)
2. ``registration``              — dynamic client registration (RFC 7591 / RFC 7592)
   ``client_metadata_documents`` — or an HTTPS URL as client_id (Client ID Metadata Documents)
   ``redirect_uris``             — which redirect URIs a client may use (RFC 8252)
3. ``authorize``                 — the authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 8707)
   ``login`` / ``consent``       — the pages the user sees, guarded by ``sessions``/``csrf``/``throttle``
4. ``token``                     — code and refresh grants (RFC 6749 §4.1.3, §6), ``client_auth`` (§2.3)
5. ``revocation`` / ``introspection`` — RFC 7009 / RFC 7662
   ``keys``                      — signing keys and the JWKS, rotation
   ``store``                     — where everything persists
"""
