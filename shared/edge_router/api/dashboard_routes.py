"""`GET /dashboard`: a self-contained HTML page that draws the health matrix from `/status`.

The page (`dashboard.html`, next to this module) is read once, when the router is built, and
served as is: no template, no external asset, no data of its own, so no auth of its own (it is
hidden with the other ops endpoints when they are private; see `ops_auth.py`). Its script fetches `/status`
every few seconds; in keys mode that needs a router key, which the user types into the page and
which the page keeps in `sessionStorage` (see the page's header comment). The content security
policy lets the page talk only to this origin, so nothing it shows can load from elsewhere.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from .ops_auth import OpsGuard

PAGE = "dashboard.html"
HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def load_page() -> bytes:
    """The dashboard HTML, from the installed package."""
    return resources.files(__package__).joinpath(PAGE).read_bytes()


def build_router(page: bytes | None = None, *, guard: OpsGuard | None = None) -> APIRouter:
    router = APIRouter()
    body = load_page() if page is None else page

    @router.get("/dashboard", summary="Health matrix as a self-refreshing HTML page")
    async def dashboard(request: Request) -> Response:
        if guard is not None:
            guard.visible(request.url.path)
        return HTMLResponse(body, headers=HEADERS)

    return router
