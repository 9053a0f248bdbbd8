"""The hub's enrolment endpoint: HTTPS, two routes, run inside `borne hub serve`.

- `GET /v1/ca` -> 200, the CA certificate (PEM). The kiosk trusts it only if it hashes
  to the code's `ca` fingerprint, so this route needs no trust of its own.
- `POST /v1/enrol` -> 200 and the enrolment (edge.hub.enrolment.enroller), or
  `{"error": CODE, "message": "..."}` with the code's HTTP status.

The server's certificate is signed by the hub CA for the host of `[enrol] public_url`
(a fresh key at each start), TLS 1.2 at least. Each connection is served in its own
thread, at most `max_connections` (32) at once: one over the cap is closed as soon as
it is accepted, so a flood of connections never grows the hub's threads without
bound. Each connection has a wall-clock deadline (15 s from its accept, the TLS
handshake included): a timer shuts its socket down then, however slowly the client
drips its bytes. The body is bounded (64 KiB). The TLS handshake happens in the
connection's thread, never in the thread that accepts connections. While it serves,
the broker's ACL and CRL are written again daily (`broker_upkeep`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edge.config_write import write_private_file
from edge.errors import BorneError
from edge.hub.enrolment.broker_upkeep import UPKEEP_EVERY, BrokerUpkeep
from edge.hub.enrolment.enroller import Enroller
from edge.hub.enrolment.errors import EnrolmentRefused
from edge.hub.enrolment.request import MAX_BODY, parse_enrol_request

__all__ = ["EnrolmentServer", "server_tls_context"]

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 32  # connections served at once; one more is closed on accept
CONNECTION_DEADLINE = 15.0  # seconds from accept to the end of the answer, handshake included
DRAIN_LIMIT = 1024 * 1024  # an oversized body up to this is read (and dropped) to answer


def server_tls_context(enroller: Enroller, host: str, folder: Path, days: int) -> ssl.SSLContext:
    """A TLS server context with a certificate from the hub CA naming `host`.

    The key and certificate are written to `folder` (`https.key` 0600, `https.pem`)
    because OpenSSL loads them from files.
    """
    issued = enroller.ca.issue(host, days=days, hosts=[host])
    write_private_file(folder / "https.key", issued.key_pem)
    write_private_file(folder / "https.pem", issued.certificate_pem, mode=0o644)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(folder / "https.pem", folder / "https.key")
    return context


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    enroller: Enroller
    context: ssl.SSLContext
    deadline: float
    slots: threading.BoundedSemaphore  # one per connection being served

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.settimeout(self.deadline)
        wrapped = self.context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def process_request(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn would start a thread per connection without limit.
        if not self.slots.acquire(blocking=False):
            log.warning("enrolment: too many connections: one from %s closed", client_address[0])
            self.shutdown_request(request)
            return
        timer = threading.Timer(self.deadline, _cut, (request, client_address))
        timer.daemon = True
        try:
            timer.start()
            threading.Thread(
                target=self._serve, args=(request, client_address, timer), daemon=True
            ).start()
        except BaseException:
            timer.cancel()
            self.shutdown_request(request)
            self.slots.release()
            raise

    def _serve(self, request: Any, client_address: Any, timer: threading.Timer) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - as socketserver: one connection, one log line
            self.handle_error(request, client_address)
        finally:
            timer.cancel()
            self.shutdown_request(request)
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops the connection, fails the handshake or times out: no
        # traceback on the hub's console, one line in the log.
        log.info("enrolment: a connection from %s failed", client_address[0])


def _cut(request: socket.socket, client_address: Any) -> None:
    """The deadline: shut the socket down, which wakes its thread wherever it waits."""
    log.info("enrolment: the connection from %s passed its deadline: closed", client_address[0])
    # The plain socket's shutdown (the TLS layer's own is not safe from this thread);
    # OSError: its own thread has closed it meanwhile.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(request, socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer
    server_version = "borne-hub"
    sys_version = ""

    def do_GET(self) -> None:
        if self.path != "/v1/ca":
            self._send_error(HTTPStatus.NOT_FOUND, "bad_request", "no such resource")
            return
        self._send(HTTPStatus.OK, self.server.enroller.ca.certificate_pem, "application/x-pem-file")

    def do_POST(self) -> None:
        if self.path != "/v1/enrol":
            self._send_error(HTTPStatus.NOT_FOUND, "bad_request", "no such resource")
            return
        try:
            body = self._body()
            request = parse_enrol_request(body)
            enroller = self.server.enroller
            answer = enroller.enrol(request)
        except EnrolmentRefused as refusal:
            log.info("enrolment: refused (%s) from %s", refusal.code, self.client_address[0])
            self._send_error(refusal.http_status, refusal.code, refusal.message)
            return
        except BorneError as error:
            log.error("enrolment: the hub cannot enrol now: %s", error)
            self._send_error(
                HTTPStatus.SERVICE_UNAVAILABLE, "not_enrolling", "the hub cannot enrol right now"
            )
            return
        log.info(
            "enrolment: %s %s in store %s (serial %x)",
            "re-sent the certificate of" if answer.retried else "enrolled",
            answer.device_id,
            answer.store_id,
            answer.certificate.serial,
        )
        document = enroller.answer_document(answer)
        self._send(HTTPStatus.OK, json.dumps(document).encode(), "application/json")

    def _body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit() or len(length_header) > 12:
            raise EnrolmentRefused("bad_request", "the request needs a Content-Length")
        length = int(length_header)
        if length > MAX_BODY:
            if length <= DRAIN_LIMIT:
                # Read and dropped, so a client still sending hears why it is refused;
                # beyond that, the connection is closed on it after the answer.
                remaining = length
                while remaining > 0 and (chunk := self.rfile.read(min(MAX_BODY, remaining))):
                    remaining -= len(chunk)
            raise EnrolmentRefused("bad_request", f"the request is over {MAX_BODY} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise EnrolmentRefused("bad_request", "the request ended before its Content-Length")
        return body

    def _send_error(self, status: int, code: str, message: str) -> None:
        document = {"error": code, "message": message}
        self._send(status, json.dumps(document).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("enrolment: %s " + format, self.client_address[0], *args)


class EnrolmentServer:
    """The HTTPS endpoint on `host:port` (port 0: a free one), served from a thread."""

    def __init__(
        self,
        enroller: Enroller,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        max_connections: int = MAX_CONNECTIONS,
        deadline: float = CONNECTION_DEADLINE,
        upkeep_every: float = UPKEEP_EVERY,
    ) -> None:
        server_class = type(
            "_Server",
            (_TLSServer,),
            {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        try:
            self._server: _TLSServer = server_class((host, port), _Handler)
        except OSError as error:
            raise EnrolmentServerError(
                f"the enrolment endpoint cannot listen on {host}:{port} ({error.strerror})"
            ) from None
        self.enroller = enroller
        self._server.enroller = enroller
        self._server.context = context
        self._server.deadline = deadline
        self._server.slots = threading.BoundedSemaphore(max_connections)
        self._upkeep = (
            BrokerUpkeep(enroller.refresh_broker, upkeep_every) if enroller.manages_broker else None
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="enrolment-https", daemon=True
        )

    @property
    def port(self) -> int:
        """The port it listens on."""
        port: int = self._server.server_address[1]
        return port

    def start(self) -> None:
        """Write the broker's CRL afresh, then start answering, in a thread of its own."""
        if self._upkeep is not None:
            self._upkeep.start()
        self._thread.start()
        host, port = self._server.server_address[:2]
        log.info("enrolment: answering on %s port %d", host, port)

    def close(self) -> None:
        """Stop answering and release the port."""
        if self._upkeep is not None:
            self._upkeep.stop()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


class EnrolmentServerError(BorneError):
    """The enrolment endpoint cannot start (its port is taken, its address is wrong)."""
