"""The four Lambda entry points, ingress consumer scheduled notifier (decorators and one call each),
and the composition root (wiring)."""
