"""relay.toml and each function's environment, in one place: `schema` (the file's shape, pydantic,
frozen), `loader` (the one checked loader: the schema, then every source's options against its kind,
then the checks across sections) and `environment` (each function's environment, validated once per
cold start).

Nothing is imported here: the schema is used by every part, the loader only where a config is read.
"""
