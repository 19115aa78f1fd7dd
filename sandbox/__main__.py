"""Run one vendor sandbox in the foreground: ``python -m sandbox streak --port 8401``."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from sandbox.common.httpd import SandboxApp, SandboxServer

APPS = {
    "streak": "sandbox.streak.app:StreakSandbox",
    "quickbooks": "sandbox.quickbooks.app:QuickBooksSandbox",
    "netsuite": "sandbox.netsuite.app:NetSuiteSandbox",
}


def load_app(name: str) -> SandboxApp:
    module_name, _, attr = APPS[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("name", choices=sorted(APPS))
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback by default; 0.0.0.0 only inside a container"
    )
    args = parser.parse_args(argv)
    server = SandboxServer(load_app(args.name), port=args.port, host=args.host).start()
    print(f"{args.name} sandbox listening on {server.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
