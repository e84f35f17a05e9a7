"""A LambdaContext for running the real handlers outside Lambda, with a deadline like Lambda's."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LocalLambdaContext:
    function_name: str = "local"
    timeout_seconds: float = 60.0
    memory_limit_in_mb: int = 256
    clock: Callable[[], float] = time.monotonic
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = self.clock() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self.clock()) * 1000))
