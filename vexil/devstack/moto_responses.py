"""moto's JSON responses without visiting the nine absent members of every attribute value.

Why (measured with cProfile on 3,000-flag changesets, docs/performance.md): moto 5.2 builds a
DynamoDB response by walking the botocore model. Every attribute value of every item returned
(``{"S": "..."}``) is a ``AttributeValue`` structure of ten members (S, N, B, SS, NS, BS, M,
L, NULL, BOOL), and moto looks up each of the ten through five alias providers — although a
value carries exactly one. For a Query page of 1,000 items that is ~400,000 lookups: over a
third of the emulator's time in the benchmark, more than the writes themselves.

The shortcut visits only the members the value holds, in the model's order, through moto's
own member serializer — so each present member is encoded exactly as before (blobs base64,
sets as lists). It applies only where skipping cannot change the output: a plain ``dict``
whose keys are all member names (no alias could then find a value for an absent member:
the aliases of ``S`` … ``BOOL`` are ``s`` … ``bool``, ``dict`` has no ``Meta``, no member
name starts with ``AttributeValue`` or ``dict``) and no response transformers (DynamoDB has
none). Anything else takes moto's path unchanged.
"""

from __future__ import annotations

from typing import Any

_INSTALLED = "_vexil_sparse_attribute_values"
SHAPE = "AttributeValue"


def install() -> None:
    """Patch moto's JSON response serializer in this process (idempotent).

    Promise: every response body is byte-for-byte what moto's own serializer produces.
    """
    from moto.core import serialize  # noqa: PLC0415 - moto is heavy; only servers load it

    serializer_type = serialize.BaseJSONSerializer
    if getattr(serializer_type._serialize_type_structure, _INSTALLED, False):
        return
    moto_structure = serializer_type._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any,
                            key: str) -> None:
        members = shape.members
        if (shape.name != SHAPE or type(value) is not dict or not key
                or getattr(self._value_picker, "response_transformers", None)
                or not value.keys() <= members.keys()):
            moto_structure(self, serialized, value, shape, key)
            return
        wrapper = self.MAP_TYPE()
        for member_key, member_shape in members.items():
            if member_key in value:
                member_shape.parent = shape  # as moto's loop does (its aliases read it)
                self._serialize_structure_member(wrapper, value, member_shape, member_key)
        self._default_serialize(serialized, wrapper, shape, key)

    serialize_structure.moto = moto_structure  # type: ignore[attr-defined] # tests compare
    setattr(serialize_structure, _INSTALLED, True)
    setattr(serializer_type, "_serialize_type_structure", serialize_structure)  # noqa: B010
