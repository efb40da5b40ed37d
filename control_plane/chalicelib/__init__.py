"""Vexil control plane: use cases, storage, auth, audit (packaged by Chalice)."""
