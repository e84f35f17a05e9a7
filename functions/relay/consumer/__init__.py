"""The consumer: one SQS batch in, merged units written to the partner, `batchItemFailures` out.

pipeline (process_batch) · batch (unit state reconciled per unit) · session (partner calls, retries,
the time budget) · merge (field-level last-write-wins) · unit_state (what the store holds per unit).
"""
