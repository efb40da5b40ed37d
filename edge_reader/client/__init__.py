"""The server-side reader: fetch (one GET), poll (when), store (what is served).

``FlagClient`` is the entry point; the other names are for tests, the edge app and tools.
"""

from edge_reader.client._cache import DiskCache
from edge_reader.client._client import FlagClient, not_ready_detail
from edge_reader.client._fetcher import Fetched, Fetcher, FetchFailure, NotModified, Timeouts
from edge_reader.client._poller import DEFAULT_POLL_INTERVAL, Schedule
from edge_reader.client._refresh import RefreshResult
from edge_reader.client._status import ClientStatus, StatusReport
from edge_reader.client._transport import Request, Response, Transport, TransportError
from edge_reader.client._verify import BundleRejected, Identity, Snapshot

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "BundleRejected",
    "ClientStatus",
    "DiskCache",
    "FetchFailure",
    "Fetched",
    "Fetcher",
    "FlagClient",
    "Identity",
    "NotModified",
    "RefreshResult",
    "Request",
    "Response",
    "Schedule",
    "Snapshot",
    "StatusReport",
    "Timeouts",
    "Transport",
    "TransportError",
    "not_ready_detail",
]
