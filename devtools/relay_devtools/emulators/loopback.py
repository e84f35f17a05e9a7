"""The one loopback HTTP server the local stack is made of: the Northca emulator, the ER:LC emulator and
`relay local`'s ingress all serve through it.

A service is a function `(Request) -> Reply | None`; None closes the connection without an answer (a
dropped connection, for fault injection). The server reads bodies framed by Content-Length or chunked
encoding up to a size limit, keeps connections alive, never resolves the host's name (which can stall
on a machine without DNS), and can close every open connection when it stops, so a stopped service
stops answering at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with its query string
    headers: Mapping[str, str]  # names lower-cased; the first of repeated headers
    body: bytes
    client: str = ""
    # Every header as sent (repeats and case kept), for services that join repeats themselves.
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), headers)


Service = Callable[[Request], Reply | None]


class _BadFraming(ValueError):
    """The request's body framing cannot be read, so the connection cannot be reused."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        service: Service,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        error_reply: Callable[[int, str], Reply] | None = None,
    ) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        # How framing errors and unknown methods are answered (a JSON envelope by default).
        self.error_reply = error_reply or (lambda status, message: Reply.json(status, {"error": message}))
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, name: str) -> str:
        """Serve in a daemon thread; returns the root URL."""
        # A short poll makes stop() quick (tests start many servers); the cost is negligible.
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.shutdown()
        # Keep-alive connections would otherwise go on being served after stop().
        self.close_connections()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # OSError: the client closed it already.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (timeouts, drops) reset connections; that is expected, not an error.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "relay-loopback/1.0"
    # An idle keep-alive connection is closed after this many seconds.
    timeout = 30
    # Headers and body go out in two writes; with Nagle on, the body waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self._server().track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server().untrack(self.connection)

    def _server(self) -> LoopbackServer:
        return cast(LoopbackServer, self.server)

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _BadFraming as exc:
            self.close_connection = True
            reply = self._server().error_reply(exc.status, exc.message)
            self._send(Reply(reply.status, reply.body, (*reply.headers, ("Connection", "close"))))
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), value)
        request = Request(
            self.command, self.path, headers, body, self.client_address[0], list(self.headers.items())
        )
        answer = self._server().service(request)
        if answer is None:
            # Close without a status line: the client sees the connection end with no answer.
            self.close_connection = True
            return
        self._send(answer)

    def _read_body(self) -> bytes:
        limit = self._server().max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise _BadFraming(400, "Invalid Content-Length")
        size = int(length)
        if size > limit:
            raise _BadFraming(413, "Payload too large")
        return self.rfile.read(size)

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadFraming(400, "Invalid chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                raise _BadFraming(413, "Payload too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib calls this for malformed requests and unknown methods: answer like the service
        # would, and close, since the rest of such a request was not read.
        self.close_connection = True
        reply = self._server().error_reply(code, message or HTTPStatus(code).phrase)
        self._send(Reply(reply.status, reply.body, (*reply.headers, ("Connection", "close"))))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
