"""The signaling refusals, one class per stable code (docs/protocol.md lists them).

Each is a rooms.errors.DomainError, so realtime turns it into an `error` frame (or a
`precall.error` layer message) in the one place that does that.
"""

from __future__ import annotations

from rooms.errors import DomainError


class InvalidSignal(DomainError):
    code = "invalid_signal"
    status = 400
    default_message = (
        "A signal needs a recipient (`to`) and exactly one of `description` or `candidate`."
    )


class InvalidDescription(DomainError):
    code = "invalid_description"
    status = 400
    default_message = "The call set-up message (session description) is not valid."


class SdpTooLarge(DomainError):
    code = "sdp_too_large"
    status = 413
    default_message = "The call set-up message is too large (the limit is 64 KiB)."


class InvalidCandidate(DomainError):
    code = "invalid_candidate"
    status = 400
    default_message = "The network address message (ICE candidate) is not valid."


class NotAdmitted(DomainError):
    code = "not_admitted"
    status = 403
    default_message = "You can start video once you have been let into the session."


class NoSuchParticipant(DomainError):
    # Also for someone who exists but is waiting, removed or in another room: no leaking.
    code = "no_such_participant"
    status = 404
    default_message = "That person is not in this session right now."


class PrecallBusy(DomainError):
    code = "precall_busy"
    status = 503
    default_message = (
        "Too many people are testing their camera right now. Please try again in a minute."
    )


class PrecallNotFound(DomainError):
    code = "precall_not_found"
    status = 404
    default_message = "That camera and connection test has already ended. Please start a new one."


class PrecallNotReady(DomainError):
    code = "precall_not_ready"
    status = 409
    default_message = "We are still checking your connection. Please wait a moment and try again."


class PrecallFailed(DomainError):
    code = "precall_failed"
    status = 500
    default_message = "The camera and connection test could not start. Please try again."
