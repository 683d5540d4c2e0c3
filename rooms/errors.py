"""One error type for every rule the domain refuses. Interfaces turn it into an HTTP JSON
body (rooms/api.py) or a websocket `error` frame (realtime/protocol.py)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused request: a stable snake_case `code`, a sentence a person can read, and
    structured `details`. `status` is the HTTP status an API answers with."""

    code = "bad_request"
    status = 400
    default_message = "That request could not be carried out."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationFailed(DomainError):
    code = "invalid"
    status = 400
    default_message = "Some fields are not valid."


class NotFound(DomainError):
    """Also what a person gets for something that exists but is not theirs: no leaking."""

    code = "not_found"
    status = 404
    default_message = "Not found."


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    default_message = "You are not allowed to do that."


class Gone(DomainError):
    code = "gone"
    status = 410
    default_message = "This link can no longer be used."


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = "That conflicts with the current state."


class Unavailable(DomainError):
    code = "unavailable"
    status = 503
    default_message = "The service is briefly unavailable. Please try again."
