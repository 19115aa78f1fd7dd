"""Real capture servers on 127.0.0.1 (ephemeral ports) that record the alerts the sync sends:
an SMTP server (aiosmtpd) and a webhook HTTP server. Used by the alert unit tests and the
scheduler end-to-end test."""

from __future__ import annotations

import email
import json
import threading
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def _wait(items: Callable[[], list[Any]], match: Callable[[Any], bool], timeout: float) -> Any:
    end = time.monotonic() + timeout
    while True:
        for item in items():
            if match(item):
                return item
        if time.monotonic() > end:
            return None
        time.sleep(0.5)


class _EphemeralController(Controller):
    """aiosmtpd's controller, bound to port 0: learns the real port before its readiness probe."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpCapture:
    """An SMTP server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._controller = _EphemeralController(self, hostname="127.0.0.1", port=0)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def connection_json(self, **extra: Any) -> str:
        """An ``AIRFLOW_CONN_SMTP_DEFAULT`` value pointing at this server (plain SMTP, no TLS)."""
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 10, "retry_limit": 0, **extra},
            }
        )

    def bodies(self) -> list[str]:
        out = []
        for msg in list(self.messages):
            parts = msg.walk() if msg.is_multipart() else [msg]
            out.append(
                "".join(
                    p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8")
                    for p in parts
                    if p.get_content_maintype() == "text"
                )
            )
        return out

    def wait_for(self, match: Callable[[Message], bool], timeout: float) -> Message | None:
        """The first received message ``match`` accepts, waiting up to ``timeout`` seconds."""
        return _wait(lambda: list(self.messages), match, timeout)

    def start(self) -> SmtpCapture:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WebhookCapture:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it.

    ``status`` is what it answers (set 500 to play a webhook that is down).
    """

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = status
        capture = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    capture.received.append(json.loads(body))
                except ValueError:
                    capture.received.append({"_raw": body.decode("utf-8", "replace")})
                self.send_response(capture.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="webhook-capture", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/alerts"

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [a for a in list(self.received) if a.get("kind") == kind]

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        """The first received alert ``match`` accepts, waiting up to ``timeout`` seconds."""
        return _wait(lambda: list(self.received), match, timeout)

    def start(self) -> WebhookCapture:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> WebhookCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
