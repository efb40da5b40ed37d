"""moto's Query reads the one partition it names, not every item of the table.

Why (measured with py-spy on the local stack during ``bench_apply``, docs/performance.md):
moto 5.2 answers a base-table Query by listing *every* item of the table — sorted — and
keeping those whose hash key matches, once per page. Our table holds every project, so each
page of a 1,000-flag environment's read walked all projects' items; reads (the API's
lists, the applier's reads, the publisher's snapshot) became the emulator's largest cost
and grew with everything else stored, not with the partition read.

During a base-table Query on a table with a sort key, the table's ``all_items`` answers with
just the named partition, sorted as moto sorts (hash key equal, so by sort key). moto's
own code then runs unchanged — the same hash-key filter, sort, paging, size limit,
conditions, filter and projection — so each page holds exactly the items it held before.
Index queries and tables without a sort key keep moto's full walk. Correct because requests
run one at a time (:mod:`vexil.devstack.motoserver`): the stand-in lives only for the call.
"""

from __future__ import annotations

from typing import Any

_INSTALLED = "_vexil_partition_query"


def install() -> None:
    """Patch moto's ``Table.query`` in this process (idempotent). Only for a moto that
    serves one request at a time.

    Promise: every Query answers exactly the items, order and ``LastEvaluatedKey`` moto's own
    walk of the whole table gives.
    """
    from moto.dynamodb.models.table import Table  # noqa: PLC0415 - moto is heavy

    if getattr(Table.query, _INSTALLED, False):
        return
    moto_query = Table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None or not self.range_key_attr:
            return moto_query(self, hash_key, *args, **kwargs)
        partition = self.items.get(hash_key) or {}

        def one_partition() -> list[Any]:
            return sorted(partition.values(), key=lambda item: item.range_key)

        self.all_items = one_partition  # an instance attribute, for this call only
        try:
            return moto_query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    setattr(query, _INSTALLED, True)
    setattr(Table, "query", query)  # noqa: B010 - replaces moto's method
