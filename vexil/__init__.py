"""Operator tooling for Vexil: the ``vexil`` CLI, the local stack and flags-as-code."""
