"""Typed errors. The ingress maps each to one HTTP answer in `relay.http`; nothing else picks status codes."""

from __future__ import annotations


class RelayError(Exception):
    """Base of the errors a request can end with. `status` is the HTTP answer it maps to."""

    status = 500
    public_message = "Internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public_message)
        self.message = message or self.public_message


class UnknownSourceError(RelayError):
    status = 404
    public_message = "Unknown source"


class AuthenticationError(RelayError):
    """Any signature or token failure. The answer is always the same generic text: no oracle."""

    status = 401
    public_message = "Unauthorized"

    def __init__(self, reason: str) -> None:
        super().__init__(self.public_message)
        self.reason = reason  # logged, never returned


class PayloadTooLargeError(RelayError):
    status = 413
    public_message = "Payload too large"


class UnsupportedMediaTypeError(RelayError):
    status = 415
    public_message = "Unsupported content type"


class InvalidPayloadError(RelayError):
    """The body was authentic but not understood: says what and where, so the sender can fix it."""

    status = 422
    public_message = "Payload not understood"


class QueueUnavailableError(RelayError):
    """Not every message reached the queue: 503 so the sender retries (the replay guard makes that safe)."""

    status = 503
    public_message = "Queue unavailable, retry later"


class ConfigError(Exception):
    """relay.toml is wrong: names the file, the key and what was expected."""
