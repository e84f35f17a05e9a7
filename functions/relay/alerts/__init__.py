"""Alarm notifications to chat: CloudWatch alarm messages, delivered by the alarm topic (SNS), posted to a
Discord webhook.

`discord.py` builds the message (pure, within Discord's limits), `webhook.py` makes the one HTTP call
(the webhook URL is a secret), `notify.py` is the flow the notifier handler runs.
"""
