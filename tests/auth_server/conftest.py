"""The authorization server tests: the fixtures are in ``fixtures.py`` (a plugin of ``tests/conftest.py``).

``as_client`` is a starlette ``TestClient`` on a new app whose lifespan has run, with
``DATA_DIR`` in the test's ``tmp_path``; ``make_client`` builds more (e.g. a restart on the
same directory). ``documents`` simulates hosts serving client metadata documents. The flow
helpers (``register_client``, ``authorize_in_browser``, ``get_tokens`` …) are in
``as_flow_helpers.py``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(clean_environment: None) -> None:
    """Every test here configures the AS only through what it passes."""
