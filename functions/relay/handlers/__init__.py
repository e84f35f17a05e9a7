"""The three Lambda entry points (decorators and one call each) and the composition root (wiring)."""
