"""Helpers both servers use: PKCE, scopes, JWT access tokens, JWKS and settings.

Neither server imports the other; everything they must agree on lives here, so the
authorization server and the resource server cannot drift apart on a claim name, a
scope string or an algorithm.
"""
