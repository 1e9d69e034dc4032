"""The managers' HTTP API (FastAPI)."""
