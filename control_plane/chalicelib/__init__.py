"""Vexil control plane: service layer, storage, auth, audit (packaged by Chalice)."""
