"""The only code that knows AWS's request and response shapes (besides the composition root).

Each adapter implements a port of relay.ports on a boto3 client it is given; a failure becomes the
port's typed error, carrying the operation and AWS's error code.
"""

from __future__ import annotations


def aws_error_code(exc: Exception) -> str:
    """botocore's error code (`ThrottlingException`, `AccessDeniedException`, ...), else the type's name.

    Read from the exception's `response` so the logic never imports botocore.
    """
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code if isinstance(code, str) and code else type(exc).__name__
