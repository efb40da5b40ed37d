"""``python -m vexil.cli``: the same as the ``vexil`` console script."""

from vexil.cli import _entry

_entry()
