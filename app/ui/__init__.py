"""The Qt face of Hermes Studio: widgets, list models and thin workers over app.core."""
