"""A browser-like client for the REST API tests: CSRF enforced the way a real browser session
meets it (GET /api/auth/csrf, then the token in X-CSRFToken), JSON bodies, and readers for the
error shape `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.test import Client


class ApiClient:
    """Django's test client with CSRF enforced, JSON bodies and the CSRF header added."""

    def __init__(self) -> None:
        self.client = Client(enforce_csrf_checks=True)

    def csrf_token(self) -> str:
        cookie = self.client.cookies.get("csrftoken")
        if cookie is None or not cookie.value:
            self.client.get("/api/auth/csrf")
            cookie = self.client.cookies["csrftoken"]
        return cookie.value

    def get(self, path: str, **params: Any) -> HttpResponse:
        return self.client.get(path, params)

    def _send(self, method: str, path: str, body: Any) -> HttpResponse:
        send = getattr(self.client, method)
        return send(
            path,
            data=json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers={"X-CSRFToken": self.csrf_token()},
        )

    def post(self, path: str, body: Any = None) -> HttpResponse:
        return self._send("post", path, body)

    def patch(self, path: str, body: Any = None) -> HttpResponse:
        return self._send("patch", path, body)

    def delete(self, path: str) -> HttpResponse:
        return self._send("delete", path, None)


def error_code(response: HttpResponse) -> str:
    return response.json()["error"]["code"]


def field_errors(response: HttpResponse) -> dict[str, str]:
    return response.json()["error"]["details"]["fields"]
