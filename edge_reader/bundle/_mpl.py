"""Process-wide pieces the heavy envelope modules share: the MPL client and a small LRU.

Imported only by :mod:`edge_reader.bundle.esdk` and :mod:`edge_reader.bundle.hierarchy`
(both heavy); importing it loads the MPL, so the SDK-key reader path never does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Literal

from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig

_LOCK = threading.Lock()
_MPL: AwsCryptographicMaterialProviders | None = None


def mpl() -> AwsCryptographicMaterialProviders:
    """The one MPL client of this process (built on first use; building one is not free)."""
    global _MPL  # noqa: PLW0603 - one MPL client per process, built on first use
    with _LOCK:
        if _MPL is None:
            _MPL = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
        return _MPL


class Lru:
    """A small thread-safe LRU map; keyrings are cheap to rebuild, not free."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value under ``key`` (now most recently used), or None."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        """Store ``value``, evicting the least recently used entries beyond capacity."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._capacity:
                self._data.popitem(last=False)


_CLIENTS: dict[str, Any] = {}


def default_client(service: Literal["kms", "dynamodb"]) -> Any:
    """A process-wide boto3 client for ``service`` (honours AWS_ENDPOINT_URL), built once."""
    with _LOCK:
        client = _CLIENTS.get(service)
        if client is None:
            import boto3  # noqa: PLC0415 - late: SDK-key readers never pay for boto3

            client = boto3.session.Session().client(service)
            _CLIENTS[service] = client
        return client
