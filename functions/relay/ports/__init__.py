"""Every boundary the logic talks through, as a Protocol, each module with the data that crosses it.

The logic (ingress, sources, consumer, erlc, alerts) takes these as parameters; `relay.aws` and the
HTTP clients implement them for Lambda, `relay.memory` implements the stores in memory for tests, the
bench and the operator's tools, and the contract tests run the same cases over both. The adapters
import their port's types, never the reverse. (The consumer's unit-state store lives with the unit
state it stores: relay.consumer.unit_state.)

Nothing is imported here: a function loads only the ports it uses.
"""
