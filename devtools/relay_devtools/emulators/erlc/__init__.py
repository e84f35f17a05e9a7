"""A local ER:LC API, split by concern as the Northca emulator is: PRC's shapes and errors (contract),
the faults a test injects (faults), the emulator itself on the loopback server (server), and its
command line (`python -m relay_devtools.emulators.erlc`)."""

from relay_devtools.emulators.erlc.contract import player
from relay_devtools.emulators.erlc.faults import ErlcFault
from relay_devtools.emulators.erlc.server import ErlcEmulator

__all__ = ["ErlcEmulator", "ErlcFault", "player"]
