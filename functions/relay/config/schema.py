"""relay.toml's schema: sources and settings as code, validated once at start.

This module checks the shape of the file only. What depends on the adapters (each source's
`options`, and the checks across sources) is relay.config.loader's, whose `load_config` is the one
loader everything uses. An error names the file, the key and what was expected, e.g.
`relay.toml: sources.cad.signature.scheme: expected one of 'standard-webhooks', ...`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import jmespath
import jmespath.exceptions
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from relay.config.durations import Duration

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NorthcaConfig(Strict):
    base_url: HttpUrl = HttpUrl("https://api.northca.dev/v1")
    partner_key_secret: str = Field(min_length=1)
    connect_timeout: float = Field(default=3.05, gt=0, le=30)
    read_timeout: float = Field(default=10.0, gt=0, le=60)
    # The partner documents no bulk limit; keep each PUT small enough to be quick and cheap to retry.
    max_units_per_request: int = Field(default=100, ge=1, le=1000)
    # Every partner call (reads, writes, and any other) takes a token of one bucket shared by every
    # consumer invocation (relay.northca.pacing): this many a second on average, `burst` at once; 0: no
    # cap. `throttle_alarm_after` 429/503 answers within 5 minutes page (docs/consumer.md, "Pacing").
    max_requests_per_second: float = Field(default=5.0, ge=0, le=1000)
    burst: int = Field(default=10, ge=1, le=1000)
    throttle_alarm_after: int = Field(default=10, ge=1, le=100_000)


class IngressConfig(Strict):
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=6 * 1024 * 1024)
    # Replayed deliveries are remembered at least twice the widest signature tolerance.
    replay_ttl_seconds: int = Field(default=900, ge=60)


class ConsumerConfig(Strict):
    """How the consumer keeps unit state and retries the partner (docs/consumer.md)."""

    # A unit not changed for this long loses its stored fields (DynamoDB TTL on expires_at).
    unit_state_ttl_days: int = Field(default=7, ge=1, le=365)
    # Attempts per PUT on 5xx, timeouts and dropped connections, with exponential backoff between them.
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_seconds: float = Field(default=0.2, ge=0, le=10)
    max_backoff_seconds: float = Field(default=2.0, ge=0, le=30)
    # A 429/503 whose Retry-After is at most this is waited for in the invocation; longer ones are not.
    max_inline_wait_seconds: float = Field(default=1.0, ge=0, le=10)
    # Visibility delay of throttled messages when the partner gave no usable Retry-After.
    throttle_delay_seconds: int = Field(default=5, ge=0, le=900)
    max_visibility_delay_seconds: int = Field(default=900, ge=0, le=43200)
    # A unit not written this time (a partner blip) is tried again this long after (2 s: a player's
    # command reaches the MDT within seconds), then eight times longer at each receive (16 s, 128 s,
    # then the maximum delay), so a long outage still takes no less time to reach the DLQ than the
    # queue's own visibility timeout would (2 + 16 + 128 + 900 + 900 s >= 5 x 370 s). A PUT that may
    # land late is checked again by a delayed "recheck" message once the late-write window has passed
    # (docs/consumer.md), so the quick retry costs none of the late-write protection.
    retry_delay_seconds: int = Field(default=2, ge=0, le=900)
    retry_backoff: float = Field(default=8.0, ge=1, le=10)
    # No PUT starts with less than this left in the invocation (connect + read timeout + margin).
    min_remaining_ms: int = Field(default=15_000, ge=0, le=900_000)
    # Rounds of read-plan-write for a unit another consumer wrote meanwhile, before giving it back.
    max_resend_rounds: int = Field(default=3, ge=1, le=10)
    # A value the partner holds that the relay itself sent this long before the unit's updated_at is
    # one of its own PUTs landing late, not another writer's edit (docs/consumer.md).
    late_write_window_seconds: int = Field(default=300, ge=1, le=3600)
    # An event time later than the receive time plus this is clamped to the receive time.
    max_event_skew_seconds: int = Field(default=300, ge=0, le=86400)


class EmergenciesConfig(Strict):
    """How the consumer delivers calls and panics (docs/emergencies.md)."""

    # A second panic of the same unit and sender press within this many seconds is the same panic (a
    # sender's retry, a redelivered message): it is not sent again. A press with no identity of its own
    # (Sonoran's) makes every panic of the unit in the window one.
    panic_repeat_window_seconds: int = Field(default=60, ge=1, le=3600)
    # A unit the MDT does not hold as active is made active with this status before its panic is sent
    # again ("" makes it active with no status).
    panic_activate_status: str = Field(default="10-33", max_length=256)
    # A call's POST or PATCH whose answer was lost is assumed applied within this many seconds or never:
    # until then no other request for that call is sent (a second POST could make a second call).
    late_request_window_seconds: int = Field(default=60, ge=5, le=900)
    # A call or panic not delivered this time comes back this soon (then twice as late at each receive,
    # up to the late-request window), far sooner than a unit's change.
    retry_delay_seconds: int = Field(default=2, ge=0, le=900)


class StandardWebhooksSignature(Strict):
    scheme: Literal["standard-webhooks"]
    secret: str = Field(min_length=1)
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)


class HmacSha256Signature(Strict):
    scheme: Literal["hmac-sha256"]
    secret: str = Field(min_length=1)
    header: str = Field(min_length=1)
    prefix: str = ""
    encoding: Literal["hex", "base64"] = "hex"
    timestamp_header: str | None = None
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # Where the sender puts a delivery id that stays the same on its retries (e.g. X-GitHub-Delivery).
    delivery_id_header: str | None = None


class Ed25519Signature(Strict):
    scheme: Literal["ed25519"]
    secret: str = Field(min_length=1, description="secret holding the public key (base64 SPKI/DER or hex)")
    signature_header: str = "X-Signature-Ed25519"
    timestamp_header: str = "X-Signature-Timestamp"
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)


class BodyKeySignature(Strict):
    scheme: Literal["body-key"]
    secret: str = Field(min_length=1)
    field: str = Field(default="key", min_length=1)


class UrlTokenSignature(Strict):
    scheme: Literal["url-token"]
    secret: str = Field(min_length=1)


SignatureConfig = Annotated[
    StandardWebhooksSignature | HmacSha256Signature | Ed25519Signature | BodyKeySignature | UrlTokenSignature,
    Field(discriminator="scheme"),
]


def timestamp_tolerance(signature: SignatureConfig) -> int:
    """How far a signed timestamp may be from now, or 0 for schemes that sign no timestamp."""
    if isinstance(signature, StandardWebhooksSignature | Ed25519Signature):
        return signature.tolerance_seconds
    if isinstance(signature, HmacSha256Signature) and signature.timestamp_header is not None:
        return signature.tolerance_seconds
    return 0


class SourceConfig(Strict):
    adapter: str = Field(min_length=1)
    mdt_id: str = Field(min_length=1)
    guild_id: str = Field(pattern=r"^[0-9]{5,25}$")
    actor: str | None = Field(default=None, pattern=r"^[0-9]{5,25}$")
    signature: SignatureConfig
    # Adapter-specific settings, validated by the adapter itself at load time.
    options: dict[str, Any] = Field(default_factory=dict)
    # A JMESPath into the body naming a delivery id, for senders that put it there.
    delivery_id_path: str | None = None
    # "none": the operator acknowledges that the sender signs no timestamp and names no delivery (SnailyCAD,
    # Sonoran, Discord-format senders), so a captured delivery sent again is queued again; no warning.
    replay_protection: Literal["none"] | None = None
    # Keep each delivery's body (its secrets removed) in the archive, and a refused one's too, so `relay
    # inspect` shows it and `relay replay` can take it once the key is fixed (docs/operations.md).
    archive_body: bool = False
    # Alarm when the source has sent nothing for this long ("2h"; docs/alarms.md).
    expect_every: Duration = None

    @field_validator("delivery_id_path")
    @classmethod
    def _delivery_id_path_compiles(cls, path: str | None) -> str | None:
        if path is not None:
            try:
                jmespath.compile(path)
            except jmespath.exceptions.JMESPathError as exc:
                raise ValueError(f"not a JMESPath expression: {exc}") from None
        return path


def replay_warning(name: str, source: SourceConfig) -> str | None:
    """Why a source has no replay protection from an attacker, or None: its scheme signs no timestamp
    and no `delivery_id_path` names a delivery (docs/security.md, "Replay window"). A warning, not an
    error: some senders offer nothing better."""
    signature = source.signature
    if timestamp_tolerance(signature) or source.delivery_id_path is not None:
        return None
    if source.replay_protection == "none":  # acknowledged in relay.toml
        return None
    unsigned = (
        f" (its {signature.delivery_id_header} header is not signed)"
        if isinstance(signature, HmacSha256Signature) and signature.delivery_id_header
        else ""
    )
    return (
        f"sources.{name}: {signature.scheme} signs no timestamp and no delivery_id_path is set{unsigned}: "
        "a captured delivery sent again is queued again (docs/security.md, Replay window); "
        'replay_protection = "none" acknowledges it'
    )


UnitFieldName = Literal["officer_name", "officer_badge", "department", "rank", "status"]


class UnitRules(Strict):
    """How the relay reconciles one unit that several sources speak of (docs/consumer.md, "Several
    sources, one unit"). `[units]` sets them for every MDT; `[mdts."<mdt id>".units]` for one MDT, key by
    key over `[units]`."""

    # How unit ids from different sources are matched: "case-insensitive" compares them after Unicode
    # normalisation (NFC), with runs of blanks as one space and letters in one case ("1a-07" is "1A-07");
    # "exact" compares them as they are (trimmed).
    ids: Literal["case-insensitive", "exact"] = "case-insensitive"
    # Field -> source names whose values win over other sources' for that field, best first (sources not
    # listed come after, by their kind: a CAD, then forms, then other senders, then the game).
    owners: dict[UnitFieldName, list[str]] = Field(default_factory=dict)
    # Statuses that take a unit off duty. One source's off-duty status does not send a unit off duty
    # while another source still has it on duty (within `duty_memory_hours`).
    off_duty_statuses: list[Annotated[str, Field(max_length=256)]] = Field(default_factory=lambda: ["10-7"])
    duty_memory_hours: float = Field(default=12.0, ge=0, le=168)


class MdtConfig(Strict):
    units: UnitRules = UnitRules()


class ErlcServerConfig(Strict):
    """One ER:LC private server whose on-duty players the roster poller turns into units."""

    server_key_secret: str = Field(min_length=1)
    base_url: HttpUrl = HttpUrl("https://api.erlc.gg")
    api_version: Literal["v2", "v1"] = "v2"  # v2 falls back to v1 when the server answers 404
    mdt_id: str = Field(min_length=1)
    guild_id: str = Field(pattern=r"^[0-9]{5,25}$")
    actor: str | None = Field(default=None, pattern=r"^[0-9]{5,25}$")
    # In-game team -> the MDT's department; a player on any other team is not a unit.
    departments: dict[str, str] = Field(
        default_factory=lambda: {"Police": "Police", "Sheriff": "Sheriff", "Fire": "Fire", "DOT": "DOT"},
        min_length=1,
    )
    on_duty_status: str = Field(default="10-8", max_length=256)
    off_duty_status: str = Field(default="10-7", max_length=256)
    # Unit id for an on-duty player without a callsign, e.g. "RBX-{player_id}"; unset = not a unit.
    callsign_fallback: str | None = Field(default=None, pattern=r"^[^{}]*(\{(player_id|name)\}[^{}]*)+$")
    uppercase_callsigns: bool = True
    connect_timeout: float = Field(default=3.05, gt=0, le=30)
    read_timeout: float = Field(default=10.0, gt=0, le=60)
    # A player is gone (their unit off duty) once missing from this many scheduled polls in a row; a
    # poll that failed, or a missing poll, counts for nothing (docs/sources/erlc.md).
    absent_polls: int = Field(default=2, ge=1, le=10)
    # This many "server offline" answers in a row (code 3002, or a 422) end the night: every unit off duty.
    offline_polls: int = Field(default=3, ge=1, le=30)
    # A command from a player the roster does not know yet makes the ingress ask PRC for the players at
    # once: at most one such lookup per server every `lookup_spacing_seconds`, never while the poll is
    # held by a rate limit, with short timeouts (the game waits for the webhook's answer, and the
    # ingress has 5 s in all, its other calls and a cold start's secrets included). Off: the command
    # waits for the next poll (docs/sources/erlc.md).
    lookup: bool = True
    lookup_spacing_seconds: int = Field(default=5, ge=1, le=300)
    lookup_connect_timeout: float = Field(default=0.5, gt=0, le=3)
    lookup_read_timeout: float = Field(default=1.5, gt=0, le=3)
    # Alarm when no poll of the server has succeeded for this long ("offline" answers succeed); "off".
    expect_every: Duration = 600


class ErlcConfig(Strict):
    servers: dict[str, ErlcServerConfig] = Field(default_factory=dict)

    @field_validator("servers")
    @classmethod
    def _server_names_are_key_safe(cls, servers: dict[str, ErlcServerConfig]) -> dict[str, ErlcServerConfig]:
        for name in servers:
            if not SOURCE_NAME.match(name):
                raise ValueError(f"server name {name!r} must match {SOURCE_NAME.pattern}")
        return servers


BUNDLE_NAME = r"^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)+$"


class SecretsConfig(Strict):
    """Where the secrets this file names live. Unset `bundle`: each name is a Secrets Manager secret of
    its own ($0.40 a month each). `bundle`: one secret holding a JSON object of every secret by the name
    this file gives it, each value a string or a list while rotating (`relay secrets push` writes it)."""

    # A Secrets Manager name with a folder ("relay/sources/northca-relay"): the functions' grants cover
    # the folder (the template's prefix parameters end with a slash).
    bundle: str | None = Field(
        default=None, max_length=512, pattern=r"^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)+$"
    )

    def folder(self) -> str | None:
        """The bundle's folder, with its slash: the prefix the template grants."""
        return self.bundle.rpartition("/")[0] + "/" if self.bundle else None


class ArchiveConfig(Strict):
    """What the ingress keeps of each accepted webhook, for `relay inspect` and `relay replay`."""

    # Kept this many days (DynamoDB TTL); 0: nothing is kept.
    days: int = Field(default=7, ge=0, le=365)


class RelayConfig(Strict):
    northca: NorthcaConfig
    archive: ArchiveConfig = ArchiveConfig()
    ingress: IngressConfig = IngressConfig()
    consumer: ConsumerConfig = ConsumerConfig()
    emergencies: EmergenciesConfig = EmergenciesConfig()
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    erlc: ErlcConfig = ErlcConfig()
    units: UnitRules = UnitRules()
    mdts: dict[str, MdtConfig] = Field(default_factory=dict)
    secrets: SecretsConfig = SecretsConfig()

    @model_validator(mode="before")
    @classmethod
    def _mdt_units_over_the_global_ones(cls, data: Any) -> Any:
        """Each `[mdts.X.units]` key by key over `[units]`, so an MDT states only what differs."""
        if not isinstance(data, dict) or not isinstance(data.get("mdts"), dict):
            return data
        units = data.get("units")
        shared: dict[str, Any] = units if isinstance(units, dict) else {}
        mdts = {}
        for mdt_id, mdt in data["mdts"].items():
            if isinstance(mdt, dict) and isinstance(mdt.get("units", {}), dict):
                mdt = {**mdt, "units": {**shared, **mdt.get("units", {})}}
            mdts[mdt_id] = mdt
        return {**data, "mdts": mdts}

    def unit_rules(self, mdt_id: str) -> UnitRules:
        """The rules for one MDT: its own section's, else `[units]`."""
        mdt = self.mdts.get(mdt_id)
        return mdt.units if mdt is not None else self.units

    @field_validator("sources")
    @classmethod
    def _source_names_are_url_safe(cls, sources: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        for name in sources:
            if not SOURCE_NAME.match(name):
                raise ValueError(f"source name {name!r} must match {SOURCE_NAME.pattern}")
        return sources

    @model_validator(mode="after")
    def _replay_ttl_covers_every_tolerance_window(self) -> RelayConfig:
        # A timestamp is accepted from now - tolerance to now + tolerance: a delivery id must be
        # remembered that whole window, or a replay late in it would be taken as new.
        for name, source in self.sources.items():
            tolerance = timestamp_tolerance(source.signature)
            if self.ingress.replay_ttl_seconds < 2 * tolerance:
                raise ValueError(
                    f"ingress.replay_ttl_seconds ({self.ingress.replay_ttl_seconds}) must be at least twice "
                    f"sources.{name}.signature.tolerance_seconds ({tolerance})"
                )
        return self

    def replay_warnings(self) -> list[str]:
        """One warning per source without replay protection (relay.config.replay_warning)."""
        return [w for name, source in self.sources.items() if (w := replay_warning(name, source))]

    def secret_names(self) -> set[str]:
        """Every secret the config refers to: the partner key, one per source, one per ER:LC server."""
        return (
            {self.northca.partner_key_secret}
            | {s.signature.secret for s in self.sources.values()}
            | {s.server_key_secret for s in self.erlc.servers.values()}
        )

    def secret_id(self, name: str) -> str:
        """The Secrets Manager secret that holds the secret this file calls `name`: the bundle, if any."""
        return self.secrets.bundle or name

    def secret_ids(self) -> set[str]:
        """The Secrets Manager secrets the relay reads (each billed by the month)."""
        return {self.secret_id(name) for name in self.secret_names()}
