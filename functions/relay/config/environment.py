"""Each function's environment: validated once per cold start (by the composition root), never read at
import time. relay.toml itself is read by relay.config.loader.load_config."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from relay.config.loader import load_config
from relay.config.schema import RelayConfig

# relay.toml ships beside the package (functions/relay.toml is a link to the repository's relay.toml).
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "relay.toml"


class FunctionEnvironment(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    RELAY_CONFIG: str = str(DEFAULT_CONFIG)

    def config_path(self) -> Path:
        path = Path(self.RELAY_CONFIG)
        if not path.is_absolute():
            # Relative to the code root (LAMBDA_TASK_ROOT in Lambda, functions/ here).
            path = Path(os.environ.get("LAMBDA_TASK_ROOT", DEFAULT_CONFIG.parent)) / path
        return path

    def relay_config(self) -> RelayConfig:
        return relay_config(self.config_path())


class IngressEnvironment(FunctionEnvironment):
    QUEUE_URL: str = Field(min_length=1)
    # Calls and panics (read with no batching window); unset: they go to QUEUE_URL.
    EMERGENCY_QUEUE_URL: str | None = None
    REPLAY_TABLE: str | None = None
    # Source state (ER:LC rosters, Sonoran's identId cache) for the adapters that need it.
    STATE_TABLE: str | None = None
    # Overrides every ER:LC server's base_url for on-demand lookups (the local ER:LC emulator).
    ERLC_BASE_URL: str | None = None
    # Where accepted deliveries are kept (relay.toml's [archive] days: how long; 0: not kept).
    ARCHIVE_TABLE: str | None = None
    # A panic no unit could be found for (Sonoran's unknown identId) goes here with its reason.
    DLQ_URL: str | None = None


class ConsumerEnvironment(FunctionEnvironment):
    QUEUE_URL: str | None = None
    # The calls' and panics' queue: a batch from it has its messages' visibility changed there.
    EMERGENCY_QUEUE_URL: str | None = None
    # The queues' maxReceiveCount (template parameter MaxReceiveCount): a call or panic still not
    # delivered at its last receive is dead-lettered with its reason.
    MAX_RECEIVE_COUNT: int | None = Field(default=None, ge=1, le=1000)
    # Messages that can never be written go here at once, with their reason.
    DLQ_URL: str | None = None
    STATE_TABLE: str | None = None
    # Overrides relay.toml's northca.base_url (a stage's own partner, or the local emulator).
    NORTHCA_BASE_URL: str | None = None
    # Overrides relay.toml's consumer.unit_state_ttl_days (template parameter UnitStateTtlDays).
    STATE_TTL_DAYS: int | None = Field(default=None, ge=1, le=365)


class ScheduledEnvironment(FunctionEnvironment):
    QUEUE_URL: str = Field(min_length=1)
    # The servers' emergency calls and released panics (no batching window); unset: QUEUE_URL.
    EMERGENCY_QUEUE_URL: str | None = None
    STATE_TABLE: str = Field(min_length=1)
    # Overrides every ER:LC server's base_url (the local ER:LC emulator).
    ERLC_BASE_URL: str | None = None
    # A held panic whose player's unit was found too late goes here with its reason.
    DLQ_URL: str | None = None


class NotifierEnvironment(BaseModel):
    """The alarm notifier reads no relay.toml: the template names its one secret."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # Secrets Manager name of the Discord webhook URL (template parameter DiscordWebhookSecretName).
    DISCORD_WEBHOOK_SECRET: str = Field(min_length=1)


@functools.cache
def relay_config(path: Path) -> RelayConfig:
    return load_config(path)
