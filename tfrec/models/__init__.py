"""Models: towers, the TFRS retrieval model, baselines."""
