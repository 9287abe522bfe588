"""The one stylesheet the pages load (``pages.py``: CSP ``style-src 'self'``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from auth_server import paths

STYLESHEET = Path(__file__).parent / "static" / "style.css"

router = APIRouter()


@router.get(paths.STYLESHEET)
async def stylesheet() -> FileResponse:
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=3600"})
