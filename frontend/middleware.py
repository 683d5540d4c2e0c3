"""Security headers for every HTML page: a strict Content-Security-Policy and a
Permissions-Policy that lets only Hearth itself use the camera and microphone.

The policy is the second line of defence behind rendering chat and names as text: even if an
injected `<img onerror>` or `<script>` reached the DOM, no inline script, `eval`, plugin or
third-party origin would run or load. The pages are built for it: every script is an ES module
file under /static/, data reaches scripts through `data-` attributes, and no element carries a
`style` attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware


def content_security_policy(request: HttpRequest) -> str:
    """The policy for a page served to `request`.

    `connect-src` names this host's own websocket origin as well as 'self': CSP Level 3 lets
    'self' match ws:/wss: on the same host (Chromium, Firefox, Safari 15.4+), but older Safari
    on family members' phones does not, and a bare `ws:`/`wss:` would allow every host.
    """
    scheme = "wss" if request.is_secure() else "ws"
    # get_host() is validated against ALLOWED_HOSTS, so it cannot smuggle a directive.
    host = request.get_host()
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "font-src 'self'",
        f"connect-src 'self' {scheme}://{host}",
        "frame-src 'none'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ]
    return "; ".join(directives)


PERMISSIONS_POLICY = ", ".join(
    [
        "camera=(self)",
        "microphone=(self)",
        "display-capture=(self)",
        "fullscreen=(self)",
        "autoplay=(self)",
        "geolocation=()",
        "payment=()",
        "usb=()",
    ]
)


def _add_headers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if response.get("Content-Type", "").startswith("text/html"):
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response


@sync_and_async_middleware
def SecurityHeadersMiddleware(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    """Adds Content-Security-Policy and Permissions-Policy to every HTML response.

    JSON, iCalendar and static files do not run in a document, so they are left alone; an
    HTML response that already chose its own policy keeps it. Sync and async so that daphne
    does not hop to a worker thread for it.
    """
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            return _add_headers(request, await get_response(request))

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        return _add_headers(request, get_response(request))

    return middleware
