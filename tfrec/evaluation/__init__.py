"""Evaluation: full-ranking metrics, the harness, run reports."""
