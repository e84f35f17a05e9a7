"""What the operator does to a deployed relay (docs/operations.md), as the commands call it: check a
setup (doctor.py), read a stack (stack.py), deploy it (deploy.py), push its secrets (secrets_push.py),
and move its dead letters back (redrive.py). Clients are passed in."""
