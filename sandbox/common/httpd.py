"""A small threaded HTTP server shared by every vendor sandbox.

A sandbox is a :class:`SandboxApp` subclass that registers routes (``/v1/boxes/{boxKey}``) and
answers with :class:`Response`. The base class adds what every sandbox needs:

* ``/__admin/...`` routes: state snapshot, request log, reset, fault injection;
* a :class:`FaultInjector` (scheduled or random 429/5xx, slow responses, connection resets, lost
  answers) that the vendor subclass renders in its own wire format through
  :meth:`SandboxApp.fault_response`;
* :class:`SandboxServer`, which binds 127.0.0.1 only (port 0 picks a free port) and runs in a
  background thread, or in the foreground from ``python -m sandbox <name>``.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[["Request"], "Response"]


@dataclass
class Request:
    """An incoming request with parsed query string and path parameters."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Response:
    """An answer: ``body`` may be a dict/list (sent as JSON), str or bytes."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), self.content_type or "text/plain; charset=utf-8"
        if self.body is None:
            return b"", self.content_type or "application/json"
        return json.dumps(self.body).encode("utf-8"), self.content_type or "application/json"


FAULT_KINDS = ("status", "slow", "reset", "lose")


@dataclass
class Fault:
    """One injected fault, answered instead of (or, for ``lose``, after) the real handling.

    ``status``: answer ``status`` without handling the request; ``slow``: wait ``delay`` seconds,
    then handle it; ``reset``: drop the connection; ``lose``: handle it, then answer ``status`` as
    if the answer had been lost after the commit. ``target`` limits the fault to requests the
    vendor app puts in that class (see :meth:`SandboxApp.fault_targets`, e.g. ``"write"``);
    ``details`` is vendor-specific text for :meth:`SandboxApp.fault_response`.
    """

    kind: str = "status"
    status: int = 500
    delay: float = 0.0
    retry_after: float | None = None
    target: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Fault:
        kind = spec.get("kind", "status")
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
        return cls(
            kind=kind,
            status=int(spec.get("status", 500)),
            delay=float(spec.get("delay", 0.0)),
            retry_after=spec.get("retry_after"),
            target=str(spec.get("target") or ""),
            details=dict(spec.get("details") or {}),
        )

    def applies_to(self, targets: frozenset[str]) -> bool:
        return not self.target or self.target in targets


class FaultInjector:
    """Thread-safe source of faults: a queue of the next N faults plus an optional random rate.

    ``path_prefix`` limits a plan to matching request paths (e.g. ``/v1/boxes``); a fault's
    ``target`` further limits it to requests of that class. The queue is first in, first out among
    the faults that match a request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[tuple[Fault, str]] = []
        self._random: tuple[float, list[Fault], str] | None = None
        self._rng = random.Random(0)
        self.injected: dict[str, int] = {}

    def schedule(self, fault: Fault, count: int = 1, path_prefix: str = "") -> None:
        with self._lock:
            self._queue.extend([(fault, path_prefix)] * count)

    def set_random(self, rate: float, faults: list[Fault], path_prefix: str = "", seed: int = 0) -> None:
        with self._lock:
            self._random = (rate, faults, path_prefix) if rate > 0 else None
            self._rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._random = None

    def pending(self, kind: str, status: int | None = None) -> int:
        """How many queued faults of ``kind`` (and ``status``, when given) are still to strike."""
        with self._lock:
            return sum(1 for f, _ in self._queue if f.kind == kind and (status is None or f.status == status))

    def next_fault(self, path: str, targets: frozenset[str] = frozenset()) -> Fault | None:
        with self._lock:
            for i, (fault, prefix) in enumerate(self._queue):
                if path.startswith(prefix) and fault.applies_to(targets):
                    del self._queue[i]
                    return self._count(fault)
            if self._random:
                rate, faults, prefix = self._random
                candidates = [f for f in faults if f.applies_to(targets)]
                if candidates and path.startswith(prefix) and self._rng.random() < rate:
                    return self._count(self._rng.choice(candidates))
        return None

    def _count(self, fault: Fault) -> Fault:
        name = f"{fault.kind}:{fault.status}" if fault.kind in ("status", "lose") else fault.kind
        self.injected[name] = self.injected.get(name, 0) + 1
        return fault

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"queued": len(self._queue), "random": bool(self._random), "injected": dict(self.injected)}


class SandboxApp:
    """Base class of a vendor sandbox: routing, admin routes, fault injection and a request log."""

    name = "sandbox"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults = FaultInjector()
        self.lock = threading.RLock()
        self.request_log: list[dict[str, Any]] = []
        self.route("GET", "/__admin/state", lambda r: Response(200, self.state_snapshot()))
        self.route("GET", "/__admin/requests", lambda r: Response(200, list(self.request_log)))
        self.route("POST", "/__admin/reset", self._admin_reset)
        self.route("POST", "/__admin/faults", self._admin_faults)
        self.route("DELETE", "/__admin/faults", self._admin_clear_faults)
        self.route("GET", "/__admin/faults", lambda r: Response(200, self.faults.snapshot()))

    # -- to override -------------------------------------------------------------------------
    def state_snapshot(self) -> dict[str, Any]:
        """The sandbox's whole state as JSON (read by tests and ``make run``'s summary)."""
        return {}

    def reset(self) -> None:
        """Forget everything and re-seed."""

    def fault_response(self, status: int, request: Request, fault: Fault) -> Response:
        """Render an injected HTTP fault in the vendor's wire format."""
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return Response(status, {"error": f"injected fault {status}"}, headers)

    def authorize(self, request: Request) -> Response | None:
        """Return an error response when the request is not authenticated, else None."""
        return None

    def fault_targets(self, request: Request) -> frozenset[str]:
        """The classes of a request that a targeted :class:`Fault` can pick (e.g. ``{"write"}``)."""
        return frozenset()

    # -- routing ------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/") or "/")
        self._routes.append((method.upper(), re.compile(f"^{regex}/?$"), handler))

    def dispatch(self, request: Request) -> Response:
        is_admin = request.path.startswith("/__admin/")
        matched_path = False
        for method, regex, handler in self._routes:
            m = regex.match(request.path)
            if not m:
                continue
            matched_path = True
            if method != request.method:
                continue
            request.params = m.groupdict()
            if not is_admin:
                denied = self.authorize(request)
                if denied is not None:
                    return denied
            return handler(request)
        if matched_path:
            return Response(405, {"error": f"method {request.method} not allowed on {request.path}"})
        return self.not_found(request)

    def not_found(self, request: Request) -> Response:
        return Response(404, {"error": "Invalid API path specified", "success": False})

    # -- admin --------------------------------------------------------------------------------
    def _admin_reset(self, request: Request) -> Response:
        with self.lock:
            self.faults.clear()
            self.request_log.clear()
            self.reset()
        return Response(200, {"ok": True})

    def _admin_faults(self, request: Request) -> Response:
        spec = request.json() or {}
        try:
            faults = [Fault.from_dict(f) for f in spec.get("faults", [spec])]
        except (TypeError, ValueError) as exc:
            return Response(400, {"error": f"bad fault spec: {exc}", "success": False})
        prefix = spec.get("path_prefix", "")
        if spec.get("mode", "next") == "random":
            self.faults.set_random(float(spec.get("rate", 0.0)), faults, prefix, int(spec.get("seed", 0)))
        else:
            for fault in faults:
                self.faults.schedule(fault, int(spec.get("count", 1)), prefix)
        return Response(200, self.faults.snapshot())

    def _admin_clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return Response(200, self.faults.snapshot())


def _make_handler(app: SandboxApp) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
        server_version = f"{app.name}-sandbox"

        def log_message(self, format: str, *args: Any) -> None:
            return  # the request log lives in app.request_log

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            response: Response | None = None
            fault: Fault | None = None
            if not parts.path.startswith("/__admin/"):
                fault = app.faults.next_fault(parts.path, app.fault_targets(request))
                if fault is not None:
                    if fault.kind == "reset":
                        self._reset_connection()
                        return
                    if fault.kind == "slow":
                        time.sleep(fault.delay)
                    elif fault.kind == "status":
                        response = app.fault_response(fault.status, request, fault)
            if response is None:
                try:
                    response = app.dispatch(request)
                except Exception as exc:  # a sandbox bug must still answer, like a real 500
                    response = Response(500, {"error": f"sandbox error: {exc!r}", "success": False})
                if fault is not None and fault.kind == "lose":  # done, but the answer never arrives
                    response = app.fault_response(fault.status, request, fault)
            payload, ctype = response.encode()
            self.send_response(response.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
            if not parts.path.startswith("/__admin/"):
                with app.lock:
                    app.request_log.append(
                        {
                            "method": self.command,
                            "path": parts.path,
                            "status": response.status,
                            "ts": time.time(),
                        }
                    )

        def _reset_connection(self) -> None:
            sock = self.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            sock.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return _Handler


class _QuietServer(ThreadingHTTPServer):
    """A client that gives up mid-answer (a timeout during a slow fault) is normal here, not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SandboxServer:
    """Runs a :class:`SandboxApp` on 127.0.0.1 in a daemon thread. Use as a context manager."""

    def __init__(self, app: SandboxApp, port: int = 0, host: str = "127.0.0.1") -> None:
        self.app = app
        self.httpd = _QuietServer((host, port), _make_handler(app))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name=f"{self.app.name}-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
