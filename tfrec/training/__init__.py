"""Training: strategies, callbacks, the fit loop and run folders."""
