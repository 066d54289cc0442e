"""Export: TF Serving SavedModels, versions."""
