"""Every delivery, its outcome and why, from the relay's own log lines: the one reader (trail.py),
relay local's feed of them (feed.py) and its page (page.html), and a deployed stack's, read from
CloudWatch Logs (cloudwatch.py)."""
