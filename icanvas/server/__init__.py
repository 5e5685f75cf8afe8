"""The HTTP service: FastAPI app (app.py), per-theme batching (batching.py), input limits (limits.py), drawing page (static/)."""
