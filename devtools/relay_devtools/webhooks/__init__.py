"""A webhook as a sender makes it, and what the ingress would make of it: signed for any of the five
schemes (signing.py), a sample body a source's adapter reads (samples.py), and the dry run that maps
a payload as the ingress would, without the signature check (dry_run.py)."""
