"""The Northca Partner API: wire (its JSON shapes, in one place) · client (one HTTP call, typed outcome) ·
writer (the partner key's life cycle)."""
