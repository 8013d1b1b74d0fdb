"""ClientPortalBackend against a real HTTPS server with a self-signed certificate.

The server runs ``http.server`` in a thread, bound to 127.0.0.1 port 0. It
serves the auth status fixture and a large streamed body, and the fixture
shuts it down after each test.
"""

import datetime
import ipaddress
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ibkr_gateway.broker.client_portal import ClientPortalBackend
from ibkr_gateway.broker.config import BrokerSettings
from ibkr_gateway.broker.errors import BrokerResponseTooLarge, BrokerTlsError

FIXTURES = Path(__file__).parent / "fixtures" / "cpapi"
LARGE_BODY_CHUNKS = 64
CHUNK = b" " * 65536


def write_self_signed_certificate(directory):
    """Write a key and a certificate for localhost and 127.0.0.1 and return paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_path = directory / "gateway.key"
    cert_path = directory / "gateway.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/v1/api/iserver/auth/status":
            body = (FIXTURES / "auth_status_authenticated.json").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/v1/api/portfolio/accounts":
            # No Content-Length, so only the streaming cap can stop the read.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(LARGE_BODY_CHUNKS):
                    self.wfile.write(CHUNK)
            except OSError:
                pass  # The client closes the connection once over its cap.
            self.close_connection = True
        else:
            self.send_error(404)

    def log_message(self, format, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that rejects the certificate aborts the handshake. That is
        # the expected outcome of one test, not a server fault.
        pass


@pytest.fixture
def https_gateway(tmp_path):
    """Start an HTTPS server on 127.0.0.1 and yield its base URL."""
    cert_path, key_path = write_self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)

    server = QuietServer(("127.0.0.1", 0), GatewayHandler)
    # The handshake runs on the first read in the handler thread, so a client
    # that rejects the certificate never blocks the accept loop.
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v1/api"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def make_backend(base_url, **overrides):
    settings = BrokerSettings(
        backend="client_portal",
        base_url=base_url,
        timeout_seconds=5.0,
        max_requests_per_second=10.0,
        **overrides,
    )
    return ClientPortalBackend(settings)


def test_unverified_loopback_tls_works(https_gateway):
    with make_backend(https_gateway, verify_tls=False) as backend:
        status = backend.session_status()

    assert status["authenticated"] is True
    assert status["server_name"] == "JifN00000"


def test_verified_tls_rejects_self_signed(https_gateway):
    with make_backend(https_gateway, verify_tls=True) as backend:
        with pytest.raises(BrokerTlsError) as caught:
            backend.session_status()

    assert caught.value.code == "broker_tls_error"
    assert caught.value.status == 502
    assert "certificate failed verification" in caught.value.message
    assert "verify_tls" in caught.value.message


def test_streamed_body_capped_over_tls(https_gateway):
    with make_backend(
        https_gateway, verify_tls=False, max_response_bytes=256 * 1024
    ) as backend:
        with pytest.raises(BrokerResponseTooLarge):
            backend.accounts()
