"""A small informer: a live, local copy of a set of objects, kept up to date by a watch.

The dashboards need "what is true now" many times a second without hammering
the API server, so each view keeps one of these. The loop is the classic one:

1. *list* the objects and remember the list's ``resourceVersion``;
2. *watch* from that version, applying ADDED / MODIFIED / DELETED to the copy;
3. when the server says the version is too old (410 Gone, an ERROR event or an
   exception), the copy may have missed changes: go back to 1 and re-list;
4. when the connection drops or the server ends the watch (every
   ``timeout_seconds``), resume from the last version seen, after a short
   backoff if it failed.

It runs in a daemon thread, so a stopping kernel never waits for it, and
:meth:`Informer.stop` ends it within ``timeout_seconds`` (default 5): the
client's ``Watch.stop()`` only takes effect at the next event, so the server is
asked to end every watch after a few seconds and the loop checks the stop flag
before resuming. Resuming from the last version costs one cheap request.
Callbacks run on the watch thread: they must be quick and must not print.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from kubernetes import client, watch

from scalelab.errors import ScaleLabError


class NotSyncedError(ScaleLabError):
    """An informer never listed its objects: whatever it would count is unknown, not zero."""


Listener = Callable[[str, Any], None]  # (event type, object)


class Informer:
    """Keeps ``items`` (name → object) equal to what the API server holds for one list call."""

    def __init__(self, list_func: Callable[..., Any], *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 timeout_seconds: int = 5, name: str = "informer") -> None:
        self._list = list_func
        self._kwargs: dict[str, Any] = {}
        if namespace is not None:
            self._kwargs["namespace"] = namespace
        if label_selector:
            self._kwargs["label_selector"] = label_selector
        if field_selector:
            self._kwargs["field_selector"] = field_selector
        self.timeout_seconds = timeout_seconds
        self.name = name
        self.items: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.resource_version: str | None = None
        self.relists = 0  # how many times the copy was rebuilt from a fresh list
        self.reconnects = 0  # how many times a watch was resumed
        self.last_error: str | None = None
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._listeners: list[Listener] = []
        self._watch: watch.Watch | None = None
        self._thread: threading.Thread | None = None

    # --- public ---------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self, resume: bool = False) -> "Informer":
        """Start watching; ``resume`` continues from the last version seen instead of re-listing."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._resume = resume and self.resource_version is not None
            self._thread = threading.Thread(target=self._run, name=f"scalelab-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> list[Any]:
        """Every object as last seen. Before the first list, there is no answer (not an empty one)."""
        if not self.synced.is_set():
            raise self._not_synced("has not listed anything yet")
        with self.lock:
            return list(self.items.values())

    def wait_synced(self, timeout: float = 30) -> bool:
        """Wait for the first list; :class:`NotSyncedError` if it did not come: counting zero pods would be a lie."""
        if not self.synced.wait(timeout):
            raise self._not_synced(f"could not list within {timeout:.0f} s")
        return True

    def _not_synced(self, what: str) -> NotSyncedError:
        error = f" (last error: {self.last_error})" if self.last_error else ""
        return NotSyncedError(f"the watch on {self.name} {what}{error}.",
                              "check that the cluster answers (`scalelab status`), then run the cell again")

    # --- the loop -------------------------------------------------------------------

    @staticmethod
    def key(obj: Any) -> str:
        meta = obj.metadata
        return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name

    def _notify(self, kind: str, obj: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, obj)
            except Exception as exc:  # noqa: BLE001 - a broken view must not kill the watch
                self.last_error = f"listener: {exc!r}"

    def _relist(self) -> None:
        result = self._list(**self._kwargs)
        fresh = {self.key(o): o for o in result.items}
        with self.lock:
            self.items = fresh
            self.resource_version = result.metadata.resource_version
        self.relists += 1
        self.synced.set()
        self._notify("SYNCED", None)

    def _run(self) -> None:
        backoff = 0.5
        need_list = not getattr(self, "_resume", False)
        while not self._stop.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                self._watch_once()
                backoff = 0.5
                if not self._stop.is_set():
                    self.reconnects += 1
            except client.ApiException as exc:
                if exc.status == 410:  # resourceVersion too old: our copy may be stale
                    need_list = True
                    continue
                self.last_error = f"{exc.status} {exc.reason}"
                need_list = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)
            except Exception as exc:  # noqa: BLE001 - dropped connection, apiserver restarting, ...
                self.last_error = repr(exc)[:200]
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)
                if not self._stop.is_set():
                    self.reconnects += 1

    def _watch_once(self) -> None:
        self._watch = watch.Watch()
        stream = self._watch.stream(self._list, resource_version=self.resource_version,
                                    timeout_seconds=self.timeout_seconds, allow_watch_bookmarks=True,
                                    **self._kwargs)
        for event in stream:
            if self._stop.is_set():
                break
            kind, obj = event["type"], event["object"]
            if kind == "ERROR":
                raw = event.get("raw_object") or {}
                if raw.get("code") == 410:
                    raise client.ApiException(status=410, reason="Expired")
                raise client.ApiException(status=raw.get("code", 500), reason=str(raw.get("message")))
            version = getattr(getattr(obj, "metadata", None), "resource_version", None)
            if kind == "BOOKMARK":
                if version:
                    self.resource_version = version
                continue
            key = self.key(obj)
            with self.lock:
                if kind == "DELETED":
                    self.items.pop(key, None)
                else:
                    self.items[key] = obj
                if version:
                    self.resource_version = version
            self._notify(kind, obj)
