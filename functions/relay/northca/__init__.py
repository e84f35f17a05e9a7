"""The Northca Partner API: client (one HTTP call, typed outcome) · writer (the partner key's life cycle)."""
