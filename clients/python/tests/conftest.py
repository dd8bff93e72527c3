"""Starts a real `tollgate serve` (port 0, SQLite in a temp folder) for the client's tests.

TG_BINARY names the daemon (ctest sets it); otherwise build/tollgate of the repository.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))

from tollgate import Tollgate  # noqa: E402

ADMIN = "admin-secret"
BINARY = os.environ.get("TG_BINARY", str(ROOT / "build" / "tollgate"))


def wait_for(predicate, timeout=10.0, what="condition"):
    """Polls until predicate() is truthy; fails the test with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Daemon:
    def __init__(self, folder: Path, budgets: str, store: str = "sqlite"):
        self.folder = folder
        self.config = folder / "tollgate.yaml"
        self.db = folder / "ledger.db"
        self.budgets = budgets
        self.store = store
        self.port = 0
        self.proc = None
        self.url = None

    def write_config(self):
        store = (f"{{kind: sqlite, path: {self.db}, durability: strict}}" if self.store == "sqlite"
                 else "{kind: memory}")
        self.config.write_text(
            f"address: 127.0.0.1\nport: {self.port}\nstore: {store}\n"
            "policy:\n  default: normal\n  rules:\n    - {tool: \"refund_*\", class: critical}\n"
            "    - {tool: \"web_search\", class: low}\n"
            f"budgets:\n{self.budgets}")

    def start(self):
        self.write_config()
        env = dict(os.environ, TOLLGATE_ADMIN_KEY=ADMIN)
        self.proc = subprocess.Popen([BINARY, "serve", "--config", str(self.config)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = ""
        while "listening on" not in line:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("tollgate serve exited before listening")
        self.url = line.split("listening on", 1)[1].split()[0]
        self.port = int(self.url.rsplit(":", 1)[1])
        # Keep reading stdout so the daemon never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self, **kw) -> Tollgate:
        kw.setdefault("retry_for", 20.0)
        return Tollgate(self.url, kw.pop("key", ADMIN), **kw)


BUDGETS = """  - {path: t, limit: "1000.00"}
  - {path: t/a, limit: "100.00", revoke_at: "50.00"}
  - {path: t/b, limit: "10.00"}
"""


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path, BUDGETS).start()
    yield d
    d.stop()


@pytest.fixture
def gate(daemon):
    g = daemon.client()
    yield g
    g.close()
