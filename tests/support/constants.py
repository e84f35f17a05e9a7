"""The ids, keys and instants every suite uses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EVENTS = ROOT / "events"

MDT = "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2"
OTHER_MDT = "9a1b2c3d-0000-4000-8000-000000000001"
GUILD = "123456789012345678"
ACTOR = "222222222222222222"
PARTNER_KEY = "partner-key-for-tests"
CAD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
