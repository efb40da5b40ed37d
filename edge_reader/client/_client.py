"""``FlagClient``: the object application code holds.

It wires the three parts of principle 6 — ``Fetcher`` (one GET), ``Poller`` (when), ``Store``
(what is served) — plus the disk cache and status, and exposes typed getters that never
raise. Modes:

* ``"background"`` (default): a daemon thread polls every ``poll_interval`` seconds
  (default 30 s) with jitter and exponential backoff;
* ``"lambda"``: no thread, ever. A getter refreshes first when the last attempt is older
  than ``lambda_ttl`` (default 30 s), within a hard ``lambda_timeout`` (default 1 s) of
  network time, and falls back to what it holds on any failure;
* ``"offline"``: no network; serves the bootstrap file and/or the disk cache.

Start-up order: bootstrap file, then disk cache (whichever has the higher revision wins),
then the network. ``wait_until_ready`` returns as soon as something verified is served.

Publisher verification: with ``signing_keys`` (the public half of the publisher's KMS
signing key; several while it is rotated) every pointer — from the CDN, the disk cache or a
bootstrap cache file — must carry a signature by one of them, else it is refused
(``bad_signature``) and the previous bundle keeps serving. Without, pointers are accepted
signed or not, and the process logs once that it does not verify the publisher. A plaintext
bootstrap document is a local file the operator put there and is trusted as such.

Freshness (with ``signing_keys`` only): a pointer fetched from the CDN must also be
unexpired (``expires_at``), else it is refused (``stale_pointer``) and what is held keeps
serving; a held pointer that expires (the publisher's heartbeat stopped, or the CDN keeps
answering 304 for an old one) turns the status STALE with ``error_kind`` ``stale_pointer``.
A disk cache or bootstrap cache file past its expiry is still loaded (it is this reader's
own last good state) and reported STALE the same way until a fresh pointer arrives.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

from edge_reader.bundle import (
    SERVER_SCOPE,
    BundleFormatError,
    SdkKey,
    decode_bundle_document,
    parse_sdk_key,
    pointer_object_key,
)
from edge_reader.client._cache import DiskCache, decode_cache_file
from edge_reader.client._fetcher import Fetcher, Timeouts
from edge_reader.client._insights import (
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_MAX_ENTRIES,
    FlushResult,
    Insights,
    build_insights,
)
from edge_reader.client._lists import list_loader, lists_problem
from edge_reader.client._poller import DEFAULT_POLL_INTERVAL, Poller, Schedule
from edge_reader.client._refresh import Refresher, RefreshResult
from edge_reader.client._status import ClientStatus, StatusListener, StatusReport, StatusTracker
from edge_reader.client._store import ChangeListener, Store
from edge_reader.client._transport import Transport
from edge_reader.client._trust import SigningKeySource, load_signing_keys, warn_unverified_once
from edge_reader.client._verify import (
    BundleRejected,
    Identity,
    Keys,
    Snapshot,
    snapshot_from_document,
    stale_pointer,
    verify_bundle,
)
from edge_reader.engine import (
    CompiledEnvironment,
    Context,
    ErrorCode,
    EvaluationDetail,
    Reason,
)

log = logging.getLogger("edge_reader.client")

Mode = Literal["background", "lambda", "offline"]
ContextInput = Context | Mapping[str, Any] | None

_EMPTY_CONTEXT: Mapping[str, Any] = {}


def not_ready_detail(default: Any, message: str) -> EvaluationDetail:
    """The detail every getter returns when no bundle is loaded: the default, with a reason."""
    return EvaluationDetail(
        value=default,
        variant=None,
        reason=Reason.ERROR,
        error_code=ErrorCode.PROVIDER_NOT_READY,
        error_message=message,
    )


def _general_error(default: Any, exc: BaseException) -> EvaluationDetail:
    return EvaluationDetail(
        value=default,
        variant=None,
        reason=Reason.ERROR,
        error_code=ErrorCode.GENERAL,
        error_message=f"{type(exc).__name__}: {exc}",
    )


D = TypeVar("D")  # the type of the caller's default
R = TypeVar("R")  # what the getter returns: D, or an EvaluationDetail


def _getter(
    engine_getter: Callable[[CompiledEnvironment, str, Any, D], R], *, details: bool, doc: str,
    details_getter: Callable[[CompiledEnvironment, str, Any, D], EvaluationDetail] | None = None,
) -> Callable[[FlagClient, str, ContextInput, D], R]:
    """A ``FlagClient`` method calling ``engine_getter`` on the snapshot served right now.

    One Python frame between the application and the engine's getter: the snapshot is one
    attribute read (lock-free: ``Store.current`` is swapped whole), a ``None`` context is the
    empty context, and a plain dict goes to the engine as it is (the engine's getters take
    it without building a Context: see ``engine.context.plain_kinds``). With no bundle yet,
    a value getter returns ``default`` and a details getter a PROVIDER_NOT_READY detail.
    """

    # The getter the hook calls: the details getter itself, or a value getter's twin.
    by_detail = cast(Callable[[CompiledEnvironment, str, Any, D], EvaluationDetail],
                     engine_getter if details_getter is None else details_getter)

    def get(self: FlagClient, key: str, context: ContextInput, default: D) -> R:
        snap = self.snapshot() if self._lambda else self._store.current
        if snap is None:
            if details:
                return not_ready_detail(default, self._not_ready_message())  # type: ignore[return-value]
            return default  # type: ignore[return-value]  # a value getter: R is D
        # The per-evaluation hook: evaluation insights (docs/insights.md). Off, it is this
        # one attribute test; on, a value getter asks the engine for the detail instead (the
        # counters need its variant and reason) and counts it inline: see _insights.py.
        summary = self._insights
        try:
            if summary is None:
                return engine_getter(snap.env, key,
                                     _EMPTY_CONTEXT if context is None else context, default)
            detail = by_detail(snap.env, key, _EMPTY_CONTEXT if context is None else context,
                               default)
        except Exception as exc:  # the engine promises not to raise; belt and braces
            if details:
                return _general_error(default, exc)  # type: ignore[return-value]
            return default  # type: ignore[return-value]  # a value getter: R is D
        try:
            slot = summary.slots[key]
            if slot[0] is detail:
                slot[1] += 1
            elif slot[2] is detail:
                slot[3] += 1
            else:
                summary.add(key, detail)
        except KeyError:
            summary.add(key, detail)
        # (No typing.cast here: it is a real call, and this line runs per evaluation.)
        return detail if details else detail.value  # type: ignore[return-value]

    get.__doc__ = doc
    return get


class FlagClient:
    """Evaluates flags from a verified, CDN-served bundle. Never raises into the caller
    (except ``ValueError`` from the constructor for bad configuration)."""

    def __init__(
        self,
        *,
        project: str,
        environment: str,
        sdk_key: str | SdkKey | None = None,
        pointer_url: str | None = None,
        cdn_url: str | None = None,
        scope: str | None = None,
        kms_client: Any = None,
        kms_key_id: str | None = None,
        key_store_table: str | None = None,
        dynamodb_client: Any = None,
        mode: Mode = "background",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        jitter: float = 0.1,
        first_retry: float = 1.0,
        max_backoff: float = 300.0,
        stale_after: float = 300.0,
        lambda_ttl: float = 30.0,
        lambda_timeout: float = 1.0,
        cache_dir: str | Path | None = None,
        bootstrap_file: str | Path | None = None,
        ca_bundle: str | None = None,
        signing_keys: SigningKeySource | Iterable[SigningKeySource] | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        start: bool = True,
        insights: bool = True,
        insights_url: str | None = None,
        insights_flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        insights_max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        """Configure; with ``start`` (default) load bootstrap/cache and begin fetching.

        ``pointer_url`` is the full URL of ``current.json``; or give ``cdn_url`` (the CDN
        root) and the pointer path is derived from project, environment and scope. ``scope``
        defaults to ``client`` for a ``cli`` SDK key and ``server`` otherwise.
        ``signing_keys``: the publisher's public key(s) — PEM text, DER bytes or a file path,
        or a list of them; when given, only pointers they signed are served (see above).
        ``insights`` (default on): count evaluations per flag, variant and reason and send
        the counts every ``insights_flush_interval`` seconds to ``insights_url`` (default
        ``$VEXIL_INSIGHTS_URL``; the control plane's ``/v1/insights/evaluations``), with the
        SDK key as credential. Off when False, without a URL, without an SDK key (KMS
        readers) and in offline mode. See docs/insights.md.
        """
        if mode not in ("background", "lambda", "offline"):
            raise ValueError(f"mode: must be 'background', 'lambda' or 'offline', got {mode!r}")
        key = parse_sdk_key(sdk_key) if isinstance(sdk_key, str) else sdk_key
        if scope is None:
            scope = key.kind_name if key is not None else SERVER_SCOPE
        # Validates project, environment and scope names (BundleFormatError is a ValueError).
        pointer_path = pointer_object_key(project, environment, scope)
        if pointer_url is None and cdn_url is not None:
            pointer_url = cdn_url.rstrip("/") + "/" + pointer_path
        if pointer_url is not None and not pointer_url.startswith(("https://", "http://")):
            raise ValueError(f"pointer_url: must be an http(s) URL, got {pointer_url!r}")
        for name, value in (
            ("poll_interval", poll_interval),
            ("first_retry", first_retry),
            ("max_backoff", max_backoff),
            ("lambda_timeout", lambda_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name}: must be a positive number of seconds, got {value!r}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter: must be in [0, 1), got {jitter!r}")
        if mode != "offline":
            if pointer_url is None:
                raise ValueError("pointer_url: required (or cdn_url) unless mode='offline'")
            if key is None and not kms_key_id:
                raise ValueError("sdk_key: required (or kms_key_id for KMS access)")
            if key is None and not key_store_table:
                raise ValueError("key_store_table: required with kms_key_id (branch-key store)")
        trusted = load_signing_keys(signing_keys)  # ValueError names the bad entry
        if not trusted:
            warn_unverified_once()
        self.identity = Identity(project=project, environment=environment, scope=scope)
        self.mode: Mode = mode
        self._lambda = mode == "lambda"
        self._keys = Keys(sdk_key=key, kms_client=kms_client, kms_key_id=kms_key_id,
                          key_store_table=key_store_table, dynamodb_client=dynamodb_client,
                          signing_keys=trusted)
        self._clock = clock
        self._store = Store()
        self._ready = threading.Event()
        self._status = StatusTracker(
            stale_after=math.inf if mode == "offline" else stale_after, clock=clock
        )
        self._cache = (
            DiskCache(cache_dir, project, environment, scope) if cache_dir is not None else None
        )
        self._bootstrap_file = Path(bootstrap_file) if bootstrap_file is not None else None
        self._fetcher: Fetcher | None = None
        self._refresher: Refresher | None = None
        if mode != "offline" and pointer_url is not None:
            self._fetcher = Fetcher(
                transport,
                ca_bundle=ca_bundle,
                timeouts=Timeouts(connect=connect_timeout, read=read_timeout),
            )
            self._refresher = Refresher(
                pointer_url=pointer_url,
                identity=self.identity,
                keys=self._keys,
                fetcher=self._fetcher,
                store=self._store,
                cache=self._cache,
                clock=clock,
                lists=list_loader(pointer_url, self.identity, self._fetcher, cache_dir),
            )
        self._schedule = Schedule(
            interval=poll_interval, jitter=jitter, first_retry=first_retry, max_backoff=max_backoff
        )
        self._poller: Poller | None = None
        self._insights: Insights | None = None
        if insights and mode != "offline" and key is not None:
            self._insights = build_insights(
                insights_url, key.text, project, environment, transport, ca_bundle,
                insights_flush_interval, insights_max_entries, clock,
                # Lambda mode sends on an invocation's time: never longer than a refresh may.
                timeout=lambda_timeout if mode == "lambda" else 5.0)
        self._lambda_ttl = lambda_ttl
        self._lambda_timeout = lambda_timeout
        self._lambda_failures = 0
        self._next_lambda_refresh = 0.0  # monotonic
        self._lambda_lock = threading.Lock()
        self._closed = False
        self._started = False
        self._stale_watch: threading.Timer | None = None
        self._stale_watch_lock = threading.Lock()
        self._store.add_listener(self._on_change)
        if start:
            self.start()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Load local sources, then start fetching (thread, or one bounded fetch in Lambda).

        Idempotent: a second call does nothing.
        """
        if self._started:
            return
        self._started = True
        self._load_local()
        if self._refresher is None:
            self._publish_status()
            return
        if self.mode == "background":
            if self._poller is None:
                self._poller = Poller(
                    self._run_cycle,
                    self._schedule,
                    name=f"vexil-poller-{self.identity.project}-{self.identity.environment}",
                )
                self._poller.start()
        else:
            self.refresh_if_stale()

    def close(self) -> None:
        """Stop the poller and release connections. Getters keep serving what is held."""
        self._closed = True
        with self._stale_watch_lock:
            if self._stale_watch is not None:
                self._stale_watch.cancel()
        if self._poller is not None:
            self._poller.stop()
        if self._insights is not None:
            self._insights.flush()  # the last window (bounded by its timeout; never raises)
            self._insights.close()
        if self._fetcher is not None:
            self._fetcher.close()

    def __enter__(self) -> FlagClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until a verified bundle is served (True) or ``timeout`` passes (False)."""
        return self._ready.wait(timeout)

    def refresh(self, budget: float | None = None) -> RefreshResult:
        """Run one refresh cycle now (any mode but offline) and return what it did."""
        if self._refresher is None:
            return RefreshResult("failed", kind="offline", reason="offline mode: no network source")
        result = self._refresher.refresh(budget)
        self._status.record(result)
        if self._store.current is not None:
            self._ready.set()
        self._publish_status()
        return result

    def refresh_if_stale(self) -> None:
        """Lambda mode: refresh when due (TTL, or backoff after a failure); never blocks on a
        refresh already running in another thread, never waits beyond ``lambda_timeout``."""
        if self._refresher is None or self._closed:
            return
        if time.monotonic() < self._next_lambda_refresh:
            return  # the hot path in Lambda mode: one clock read, nothing else
        if not self._lambda_lock.acquire(blocking=False):
            return
        try:
            result = self.refresh(self._lambda_timeout)
            if result.ok:
                self._lambda_failures = 0
                wait = self._lambda_ttl
            else:
                self._lambda_failures += 1
                wait = min(
                    self._lambda_ttl, self._schedule.delay(self._lambda_failures, _NO_JITTER)
                )
            self._next_lambda_refresh = time.monotonic() + wait
        finally:
            self._lambda_lock.release()

    # ------------------------------------------------------------------ status and events

    def status(self) -> StatusReport:
        """The current ``StatusReport`` (state, reason, revision, source, age)."""
        snap = self._store.current
        if snap is None:
            return self._status.report(None, None)
        return self._status.report(
            snap.revision, snap.source, stale_pointer(snap.pointer, self._keys, self._clock()),
            lists_problem(snap.env),
        )

    @property
    def verifies_publisher(self) -> bool:
        """True when only pointers signed by a configured ``signing_keys`` key are served."""
        return bool(self._keys.signing_keys)

    @property
    def revision(self) -> int | None:
        """The revision being served, or None."""
        return self._store.revision

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(frozenset_of_changed_flag_keys)`` after each bundle swap."""
        self._store.add_listener(listener)

    def remove_change_listener(self, listener: ChangeListener) -> None:
        """Stop calling a change listener."""
        self._store.remove_listener(listener)

    def add_status_listener(self, listener: StatusListener) -> None:
        """Call ``listener(StatusReport)`` whenever the state (READY/STALE/ERROR…) changes."""
        self._status.add_listener(listener)

    # ------------------------------------------------------------------ evaluation

    def snapshot(self) -> Snapshot | None:
        """The snapshot served right now (refreshing first in Lambda mode when due)."""
        if self._lambda:
            self.refresh_if_stale()
        return self._store.current

    def evaluate(self, key: str, context: ContextInput, default: Any) -> EvaluationDetail:
        """Evaluate ``key`` with no type check; return the detail (never raises)."""
        snap = self.snapshot()
        if snap is None:
            return not_ready_detail(default, self._not_ready_message())
        try:
            detail = snap.env.evaluate(key, _ctx(context), default)
        except Exception as exc:  # the engine promises not to raise; belt and braces
            return _general_error(default, exc)
        if self._insights is not None:
            self._insights.add(key, detail)
        return detail

    # The typed getters are made by _getter below, so that all ten share one body (and one
    # place for a per-evaluation hook) without paying a second Python call per evaluation.
    get_boolean_details = _getter(
        CompiledEnvironment.get_boolean_details, details=True,
        doc="Boolean flag detail; TYPE_MISMATCH (and ``default``) for other kinds.")
    get_string_details = _getter(
        CompiledEnvironment.get_string_details, details=True,
        doc="String flag detail; TYPE_MISMATCH (and ``default``) for other kinds.")
    get_integer_details = _getter(
        CompiledEnvironment.get_integer_details, details=True,
        doc="Integer detail (number flags holding integers).")
    get_float_details = _getter(
        CompiledEnvironment.get_float_details, details=True,
        doc="Float detail (number flags).")
    get_object_details = _getter(
        CompiledEnvironment.get_object_details, details=True,
        doc="Object detail (json flags; a private deep copy).")
    get_boolean = _getter(
        CompiledEnvironment.get_boolean, details=False,
        details_getter=CompiledEnvironment.get_boolean_details,
        doc="The boolean value of ``key`` for ``context`` (``default`` on any problem).")
    get_string = _getter(
        CompiledEnvironment.get_string, details=False,
        details_getter=CompiledEnvironment.get_string_details,
        doc="The string value of ``key`` (``default`` on any problem).")
    get_integer = _getter(
        CompiledEnvironment.get_integer, details=False,
        details_getter=CompiledEnvironment.get_integer_details,
        doc="The integer value of ``key`` (``default`` on any problem).")
    get_float = _getter(
        CompiledEnvironment.get_float, details=False,
        details_getter=CompiledEnvironment.get_float_details,
        doc="The float value of ``key`` (``default`` on any problem).")
    get_object = _getter(
        CompiledEnvironment.get_object, details=False,
        details_getter=CompiledEnvironment.get_object_details,
        doc="The object value of ``key``, a private deep copy (``default`` on any problem).")

    def evaluate_all(self, context: ContextInput) -> dict[str, EvaluationDetail]:
        """Every flag for ``context`` from ONE snapshot (consistent); {} when not ready."""
        snap = self.snapshot()
        if snap is None:
            return {}
        try:
            return dict(snap.env.evaluate_all(_ctx(context)))
        except Exception:
            log.exception("evaluate_all failed")
            return {}

    # ------------------------------------------------------------------ internals

    def _not_ready_message(self) -> str:
        report = self.status()
        return f"no flags loaded ({report.reason})" if report.reason else "no flags loaded yet"

    def _run_cycle(self) -> RefreshResult:
        result = self.refresh()
        if self._insights is not None:
            self._insights.flush_if_due()  # on the poller thread: never on a getter's time
        return result

    def flush_insights(self, *, force: bool = False) -> FlushResult | None:
        """Send the evaluation summary now (``force``) or when its interval has passed.

        Lambda mode has no thread: call this at the end of each invocation (it sends at
        most once per ``insights_flush_interval``). None when insights are off or not due.
        Never raises.
        """
        if self._insights is None:
            return None
        return self._insights.flush() if force else self._insights.flush_if_due()

    @property
    def insights(self) -> Insights | None:
        """The evaluation summary table and its sender (None when insights are off)."""
        return self._insights

    def _on_change(self, changed: frozenset[str]) -> None:
        self._ready.set()

    def _publish_status(self) -> None:
        report = self.status()
        self._status.publish(report)
        self._watch_staleness(report)

    def _watch_staleness(self, report: StatusReport) -> None:
        """Background mode: publish again when the age alone will turn READY into STALE.

        Age passes with the clock, not with fetches: without this a reader whose checks stop
        succeeding without failing (a hung poll, ``stale_after`` shorter than the poll
        interval) stays READY to its listeners — the OpenFeature provider's PROVIDER_STALE —
        until the next refresh ends. One timer per client, re-armed at each publish.
        """
        if self.mode != "background" or report.state is not ClientStatus.READY:
            return
        due = self._status.seconds_until_stale()
        if due is None:
            return
        timer = threading.Timer(due + 0.01, self._recheck_status)
        timer.daemon = True
        with self._stale_watch_lock:
            if self._closed:
                return
            if self._stale_watch is not None:
                self._stale_watch.cancel()
            self._stale_watch = timer
            timer.start()

    def _recheck_status(self) -> None:
        if not self._closed:
            self._publish_status()

    def _load_local(self) -> None:
        """Install the bootstrap file and the disk cache, whichever are usable."""
        candidates: list[Snapshot] = []
        if self._bootstrap_file is not None:
            snap = self._load_file(self._bootstrap_file)
            if snap is not None:
                candidates.append(snap)
        if self._cache is not None:
            cached = self._cache.load()
            if cached is not None:
                try:
                    candidates.append(
                        verify_bundle(
                            cached.pointer_bytes,
                            cached.ciphertext,
                            identity=self.identity,
                            keys=self._keys,
                            source="disk",
                            clock=self._clock,
                        )
                    )
                except BundleRejected as exc:
                    log.warning("ignoring disk cache %s: %s", self._cache.path, exc)
        for snap in sorted(candidates, key=lambda s: s.revision):
            try:
                self._store.install(snap)
            except BundleRejected:
                continue
        if self._store.current is not None:
            self._status.record_loaded()
            self._ready.set()

    def _load_file(self, path: Path) -> Snapshot | None:
        """A bootstrap file: a plaintext environment document (JSON) or a cache file."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("cannot read bootstrap file %s: %s", path, exc)
            return None
        try:
            cached = decode_cache_file(data)
            if cached is not None:
                return verify_bundle(
                    cached.pointer_bytes,
                    cached.ciphertext,
                    identity=self.identity,
                    keys=self._keys,
                    source="bootstrap",
                    clock=self._clock,
                )
            try:
                # The bundle decoder, not orjson: it leaves no key cache pinning the document.
                doc = decode_bundle_document(data)
            except BundleFormatError as exc:
                raise BundleRejected("invalid_bundle", str(exc)) from exc
            return snapshot_from_document(
                doc, identity=self.identity, source="bootstrap", clock=self._clock
            )
        except BundleRejected as exc:
            log.warning("ignoring bootstrap file %s: %s", path, exc)
            return None


class _NoJitter:
    """A stand-in RNG for Lambda backoff: deterministic delays, no random state."""

    def uniform(self, a: float, b: float) -> float:
        return 1.0


_NO_JITTER: Any = _NoJitter()


def _ctx(context: ContextInput) -> Context | Mapping[str, Any]:
    if context is None:
        return _EMPTY_CONTEXT
    return context
