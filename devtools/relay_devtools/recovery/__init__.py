"""What the operator does after a bad day: `relay inspect` (what a webhook sent, became and wrote),
`relay replay` (archived changes queued again), `relay resync` (an MDT's units put back). The same
code serves relay local (its state file says where) and a deployed stack (`--stack`): target.py."""
