"""Run the app under uvicorn: foreground with clean SIGTERM/SIGINT handling,
or in a background thread (tests, benchmark)."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time

import uvicorn

log = logging.getLogger("rerank_onnx_worker")


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before uvicorn starts so that port 0 resolves to a known port."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(info[4])
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn re-raises captured signals after shutdown (exit status -15 for
    SIGTERM); we handle them ourselves so that a signal means a clean exit 0."""

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        prev = {}
        seen: set[int] = set()

        def handler(sig, frame):
            if sig in seen:  # the same signal twice (Ctrl-C Ctrl-C): do not wait for connections
                self.force_exit = True
            seen.add(sig)
            if not self.should_exit:
                log.info("received %s, shutting down", signal.Signals(sig).name)
            self.should_exit = True

        for s in (signal.SIGINT, signal.SIGTERM):
            prev[s] = signal.signal(s, handler)
        try:
            yield
        finally:
            for s, h in prev.items():
                signal.signal(s, h)


def _config(app, access_log: bool) -> uvicorn.Config:
    return uvicorn.Config(app, log_level="warning", access_log=access_log, lifespan="on", timeout_graceful_shutdown=10)


def serve_forever(app, host: str, port: int, access_log: bool = False) -> None:
    try:
        sock = bind_socket(host, port)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", host, port, e.strerror or e)
        raise SystemExit(1) from None
    h, p = sock.getsockname()[:2]
    server = _Server(_config(app, access_log))
    log.info("listening on http://%s:%d", f"[{h}]" if ":" in h else h, p)
    server.run(sockets=[sock])
    log.info("stopped")


class BackgroundServer:
    """uvicorn in a daemon thread on an ephemeral port: ``with BackgroundServer(app) as url: ...``"""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = bind_socket(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = _Server(_config(app, False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout: float = 30.0) -> str:
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() - t0 > timeout:
                raise RuntimeError("server failed to start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
