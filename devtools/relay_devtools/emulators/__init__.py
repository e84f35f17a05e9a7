"""The partners `relay local` and the tests talk to instead of the real ones, and the one loopback HTTP
server they stand on (loopback.py; relay local's ingress serves through it too)."""
