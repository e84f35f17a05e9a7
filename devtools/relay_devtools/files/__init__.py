"""The operator's files as the tools read them: relay.toml's errors explained (config_hints.py), the
local secrets file, relay.secrets.toml (secrets_file.py), and template.yaml's settings and resources
(template.py)."""
