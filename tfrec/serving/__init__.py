"""Serving: recommendations from exported SavedModels."""
