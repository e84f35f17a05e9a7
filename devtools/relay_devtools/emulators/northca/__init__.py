"""A local Northca Partner API, split by concern: the partner's rules (contract), the faults a test
injects (faults), the emulator itself on the loopback server (server), and its command line
(`python -m relay_devtools.emulators.northca`)."""

from relay_devtools.emulators.northca.contract import (
    UNIT_FIELDS,
    WRITABLE_FIELDS,
    InvalidBody,
    validate_upsert_body,
)
from relay_devtools.emulators.northca.faults import FAULT_KINDS, Fault
from relay_devtools.emulators.northca.server import MAX_LOGGED_REQUESTS, NorthcaEmulator

__all__ = [
    "FAULT_KINDS",
    "MAX_LOGGED_REQUESTS",
    "UNIT_FIELDS",
    "WRITABLE_FIELDS",
    "Fault",
    "InvalidBody",
    "NorthcaEmulator",
    "validate_upsert_body",
]
