"""ER:LC: PRC's private-server API as units. roster (pure: players, roster, diff) · client (HTTP) ·
poller (the scheduled poll: fetch, diff, enqueue, store)."""
