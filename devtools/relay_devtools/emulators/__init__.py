"""The partners `relay local` and the tests talk to instead of the real ones, alike in shape: northca/
and erlc/ each hold their rules (contract), the faults a test injects (faults), the server (server) and
a command line (`python -m relay_devtools.emulators.northca`, `... .erlc`, run by standalone.py); and
the one loopback HTTP server they stand on (loopback.py; relay local's ingress serves through it too)."""
