"""Every error the relay raises, in one place, grouped by who meets it.

- `RelayError` and its subclasses end a webhook request: each knows its HTTP `status`, the
  `public_message` a sender may read, and the `metric` it is counted under. `message` is what the
  answer says (for a 4xx, what and where); an `AuthenticationError` also has a log-only `reason`.
  `relay.ingress.answers` turns them into the envelope; nothing else picks status codes.
- The partner (`Northca*Error`) and ER:LC API (`Erlc*Error`) errors are typed outcomes of one call;
  the consumer and the poller decide what each means.
- Store errors say which operation failed and the AWS error code (`ThrottlingException`,
  `AccessDeniedException`, ...), so an outage and a missing permission read differently in the logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from pydantic import ValidationError

# ------------------------------------------------------------------------------ answers of the ingress


class RelayError(Exception):
    """Base of the errors a request can end with."""

    status: ClassVar[int] = 500
    public_message: ClassVar[str] = "Internal error"
    metric_name: ClassVar[str] = "WebhooksRejected500"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public_message)
        self.message = message or self.public_message

    def metric(self) -> str:
        return self.metric_name


class UnknownSourceError(RelayError):
    status = 404
    public_message = "Unknown source"
    metric_name = "WebhooksRejectedUnknownSource"


class PayloadTooLargeError(RelayError):
    status = 413
    public_message = "Payload too large"
    metric_name = "WebhooksRejectedTooLarge"


class UnsupportedMediaTypeError(RelayError):
    status = 415
    public_message = "Unsupported content type"
    metric_name = "WebhooksRejectedMediaType"


class InvalidPayloadError(RelayError):
    """The body was authentic but not understood: says what and where, so the sender can fix it."""

    status = 422
    public_message = "Payload not understood"
    metric_name = "WebhooksRejectedInvalidPayload"


class AuthenticationError(RelayError):
    """Any signature or token failure. The answer is always the same generic text: no oracle."""

    status = 401
    public_message = "Unauthorized"
    metric_name = "WebhooksRejectedAuth"

    def __init__(self, reason: str) -> None:
        super().__init__(self.public_message)
        self.reason = reason  # logged, never returned


RejectionKind = Literal["missing", "malformed", "timestamp", "mismatch"]


class VerificationError(AuthenticationError):
    """A request failed its source's check. The answer is the generic 401; `kind` names the metric."""

    def __init__(self, kind: RejectionKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind

    def metric(self) -> str:
        return f"WebhooksRejectedAuth{self.kind.capitalize()}"


class SourceUnavailableError(RelayError):
    """The source cannot be checked right now (its secret): 503, so the sender retries rather than drops."""

    status = 503
    public_message = "Source not available, retry later"


class SecretsUnavailableError(SourceUnavailableError):
    """A source's secret could not be read (Secrets Manager down, or the secret missing)."""

    metric_name = "SecretsUnavailable"


class UnusableSecretError(SourceUnavailableError):
    """None of a source's secrets can be used (empty, not base64, not a key): the operator's mistake."""

    metric_name = "SecretsUnusable"


class QueueUnavailableError(RelayError):
    """Not every message reached the queue: 503 so the sender retries (the replay guard makes that safe)."""

    status = 503
    public_message = "Queue unavailable, retry later"
    metric_name = "EnqueueFailed"


class SourceStateUnavailableError(RelayError):
    """The source-state store (rosters, caches) could not be read or written: 503 so a sender retries."""

    status = 503
    public_message = "State store unavailable, retry later"
    metric_name = "StateStoreUnavailable"


# ------------------------------------------------------------------------------ configuration and wiring


class ConfigError(Exception):
    """relay.toml (or the environment) is wrong: names the file, the key and what was expected."""


class StateNotWiredError(RuntimeError):
    """An adapter that needs source state ran without a store: a wiring bug, not bad input."""


class UnknownTaskError(ValueError):
    """The schedule's Input is not a task the scheduled function runs: a deployment mistake."""


# ------------------------------------------------------------------------------ stores


class UnitStateUnavailableError(Exception):
    """The unit-state store could not be read or written; the units involved are not written this time."""


class ReplayStoreUnavailableError(Exception):
    """The replay store could not be read or written. The ingress decides what that means."""


class ArchiveUnavailableError(Exception):
    """The archive could not be written or read. The ingress answers all the same (fail open, counted)."""


class PacingUnavailableError(Exception):
    """The shared token bucket of partner calls could not be read or written (the pacer decides)."""


# ------------------------------------------------------------------------------ the Northca Partner API


class NorthcaError(Exception):
    """Base of every failed partner call. `retryable` says whether the same request may succeed later;
    `maybe_applied` whether the partner may have applied it all the same (now, or later: a request
    that timed out can still land)."""

    retryable: ClassVar[bool] = False
    maybe_applied: ClassVar[bool] = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NorthcaAuthError(NorthcaError):
    """401: the partner key is wrong (perhaps rotated)."""


class NorthcaForbiddenError(NorthcaError):
    """403: the MDT is not linked to this guild."""


class NorthcaInvalidRequestError(NorthcaError):
    """400: the partner refuses this body; retrying it unchanged will not help."""


class NorthcaNotFoundError(NorthcaError):
    """404 or 405: no such route here. For a PUT a configuration problem (the base URL); for the list
    endpoint, a partner that does not have it."""


class NorthcaPayloadTooLargeError(NorthcaError):
    """413: the request is too large; a smaller one may pass."""


class NorthcaUnexpectedStatusError(NorthcaError):
    """A 4xx the contract does not give (409, 422, ...): a configuration problem, not a bad unit."""


class NorthcaThrottledError(NorthcaError):
    """429 or 503: come back after `retry_after` seconds (None when the partner did not say)."""

    retryable = True

    def __init__(self, message: str, status: int, retry_after: float | None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class NorthcaPacedError(NorthcaThrottledError):
    """No token of the partner's shared rate within what the invocation can wait: nothing was sent; come
    back after `retry_after` seconds (relay.northca.pacing)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"paced: the next partner call is {retry_after:.1f}s away", 429, retry_after)


class NorthcaServerError(NorthcaError):
    """5xx other than 503, or an answer that is not the partner's envelope."""

    retryable = True
    maybe_applied = True


class NorthcaTimeoutError(NorthcaError):
    retryable = True
    maybe_applied = True


class NorthcaConnectionError(NorthcaError):
    """The connection dropped: the request may or may not have been applied."""

    retryable = True
    maybe_applied = True


class NorthcaUnreachableError(NorthcaConnectionError):
    """No connection could be made: nothing was sent."""

    maybe_applied = False


class NorthcaUnreadableListError(NorthcaError):
    """A 2xx list answer the relay cannot fully read (an entry that is not a unit record, an id that is
    not text or is listed twice, a writable field missing or neither text nor null): not a read. Taken
    for one, it would make units look new or fields look blank, and a PUT would blank them."""


class PartnerStoppedError(Exception):
    """No more partner calls in this invocation (throttled, out of time, key refused, ...)."""


# ------------------------------------------------------------------------------ PRC's ER:LC API


class ErlcError(Exception):
    def __init__(self, message: str, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ErlcAuthError(ErlcError):
    """403 (or codes 2000-2004): the server key is missing, malformed, expired or banned."""


class ErlcRateLimitedError(ErlcError):
    def __init__(self, message: str, retry_after: float | None, bucket: str | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after
        self.bucket = bucket


class ErlcUnavailableError(ErlcError):
    """Unreachable, timed out, 5xx, or PRC could not reach the game server (1001/1002)."""


class ErlcOfflineError(ErlcError):
    """422 or code 3002: PRC says the private server is offline (no players). One such answer is no
    news: the poller counts them (relay.erlc.sync)."""


class ErlcNotFoundError(ErlcError):
    """404: this API version is not served (v2 -> try v1)."""


class ErlcLookupSkippedError(ErlcError):
    """No on-demand lookup of a server now (relay.erlc.lookup): `message` says why. A command from a
    player the roster does not know is then held for the next poll."""


class ErlcResponseError(ValueError):
    """The API answered 2xx with a body that is not a player list."""


# ------------------------------------------------------------------------------ describing validation errors


def describe_validation_error(
    exc: ValidationError, *, prefix: str = "", origin: str = "", top: str = "body", limit: int | None = 5
) -> str:
    """A short, precise message: the first `limit` problems, each with its dotted location.

    `prefix` goes before every location (e.g. `sources.cad.options`); a problem with no location is
    reported at the prefix, or at `top`. `origin` (a file name) starts every problem when given.
    """
    parts = []
    for error in exc.errors(include_url=False)[:limit]:
        location = ".".join(str(part) for part in error["loc"])
        where = f"{prefix}.{location}" if prefix and location else (prefix or location or top)
        parts.append(f"{origin}: {where}: {error['msg']}" if origin else f"{where}: {error['msg']}")
    return "; ".join(parts)


# ------------------------------------------------------------------------------ the alarm notifier


class DiscordError(Exception):
    """A post that did not go through. `message` never holds the webhook URL."""

    retryable: ClassVar[bool] = True

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class DiscordRateLimitedError(DiscordError):
    """429: Discord asks to come back after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class DiscordUnavailableError(DiscordError):
    """5xx, a timeout, a dropped or refused connection: the same post may go through later."""


class DiscordRefusedError(DiscordError):
    """A 4xx other than 429: 401/403/404 mean the webhook is gone or its token wrong (the secret needs a new
    URL), 400 a message Discord will not take. Retrying the same call will not help."""

    retryable = False

    def webhook_refused(self) -> bool:
        return self.status in (401, 403, 404)


class InvalidWebhookUrlError(DiscordError):
    """The secret's value is not a usable webhook URL (the reason says why, never the value)."""

    retryable = False
