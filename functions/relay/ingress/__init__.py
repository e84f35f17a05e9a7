"""The ingress: one webhook request in, its unit changes on the queue (or a typed refusal).

pipeline (the order of the checks) · body (JSON checks) · signatures and keys (the five schemes) ·
replay (replay keys) · answers (the envelope). Pure: the stores, the queue and the secrets come in
through relay.ports.
"""
