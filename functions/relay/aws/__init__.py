"""The only code that knows AWS's request and response shapes (besides the composition root).

Each adapter implements a port of relay.ports on a boto3 client it is given; a failure becomes the
port's typed error, carrying the operation and AWS's error code.
"""

from __future__ import annotations

from collections.abc import Callable

# The error code of a write whose condition did not hold: a lost race, an answer rather than an outage.
CONDITION_FAILED = "ConditionalCheckFailedException"


def aws_error_code(exc: Exception) -> str:
    """botocore's error code (`ThrottlingException`, `AccessDeniedException`, ...), else the type's name.

    Read from the exception's `response` so the logic never imports botocore.
    """
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code if isinstance(code, str) and code else type(exc).__name__


def unless_condition_failed[T](call: Callable[[], T], unavailable: Callable[[str], Exception]) -> T | None:
    """`call()`'s answer; None when its condition failed; any other failure raised as `unavailable(code)`
    (the port's typed error), without botocore's traceback."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - a failed condition is an answer; anything else an outage
        code = aws_error_code(exc)
        if code == CONDITION_FAILED:
            return None
        raise unavailable(code) from None
