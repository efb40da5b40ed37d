"""Importers: another flag system's published export → a Vexil environment document.

One module per system (``launchdarkly``, ``unleash``, ``flagd``, ``growthbook``), each with
the same contract::

    conv = launchdarkly.convert(document)   # -> Conversion (see _conversion.py)
    conv.document   # a Vexil environment document (format 1) compile_environment accepts
    conv.keys       # {peer flag key: vexil flag key}
    conv.report     # [{"path": ..., "reason": ..., "faithful": bool}]
    launchdarkly.context(peer_context) -> dict   # the same person/request as a Vexil context

A report item names the peer path it concerns. An item with ``faithful: False`` means the
flag it names may evaluate differently from the peer; ``faithful: True`` items are notes
(e.g. a renamed key) that change nothing about what is served.
"""
