"""Real TLS over asyncio streams, driven by hand through `ssl.MemoryBIO`.

AT-TLS decides at accept time whether a connection gets TLS, and must see the first bytes
(a cleartext client on a TLS port is RC 5003, a partner that rejects a TLS 1.3 offer reads the
ClientHello before deciding), so the handshake runs over a plain stream with an `SSLObject`
rather than through asyncio's own TLS transport. The same driver serves both roles.

Also here: `SSLContext`s built from protocol lists, and the mapping from OpenSSL's errors to
the System SSL / AT-TLS return codes AT-TLS logs (reference §5.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings
from dataclasses import dataclass

from attls.ciphers import Protocol

TLS_VERSIONS = {
    Protocol.TLSV1: ssl.TLSVersion.TLSv1,
    Protocol.TLSV1_1: ssl.TLSVersion.TLSv1_1,
    Protocol.TLSV1_2: ssl.TLSVersion.TLSv1_2,
    Protocol.TLSV1_3: ssl.TLSVersion.TLSv1_3,
}
_ORDER = (Protocol.TLSV1, Protocol.TLSV1_1, Protocol.TLSV1_2, Protocol.TLSV1_3)
SEC_LEVEL_0 = "@SECLEVEL=0"
READ_SIZE = 65536


class HandshakeFailed(Exception):
    """A TLS handshake that did not complete; `rc` is the AT-TLS/System SSL return code."""

    def __init__(self, rc: int, reason: str) -> None:
        self.rc = rc
        self.reason = reason
        super().__init__(f"RC {rc}: {reason}")


def set_protocols(
    context: ssl.SSLContext, protocols: tuple[Protocol, ...] | list[Protocol]
) -> bool:
    """Limits a context to these protocol versions; a set with a hole keeps its upper run.

    OpenSSL cannot speak a set with a hole (TLSv1 and TLSv1.2 On, TLSv1.1 Off): cut with
    OP_NO_TLSv1_1 it disables every version above the hole, so such a server speaks TLS 1.0
    alone and, with TLS 1.2 suites only, refuses every client with "no ciphers available".
    System SSL negotiates the highest version both sides enable whatever lies below it, so
    the run that holds the highest version is kept and the versions below the hole are
    dropped (a client of only those fails with a protocol version error here). Returns False
    when none of them can be spoken here (then the context is left alone).
    """
    wanted = [p for p in _ORDER if p in protocols]
    if not wanted:
        return False
    while len(wanted) > 1 and _ORDER.index(wanted[-1]) - _ORDER.index(wanted[0]) + 1 > len(wanted):
        wanted = wanted[1:]
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated in Python's ssl; simulating them is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = TLS_VERSIONS[wanted[0]]
        context.maximum_version = TLS_VERSIONS[wanted[-1]]
    return True


def client_context(
    protocols: tuple[Protocol, ...] | list[Protocol],
    *,
    cafile: str | None,
    verify: bool = True,
    cert_file: str | None = None,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """A TLS client offering exactly `protocols`; verifies the peer against `cafile`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if verify and cafile:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.verify_mode = ssl.CERT_NONE
    if not set_protocols(context, protocols):
        raise ValueError(f"no speakable protocol in {protocols}")
    context.set_ciphers(ciphers or f"DEFAULT:{SEC_LEVEL_0}")
    if cert_file is not None:
        context.load_cert_chain(cert_file)
    return context


def server_context(
    protocols: tuple[Protocol, ...] | list[Protocol],
    *,
    cert_file: str,
    ciphers: str | None = None,
    cafile: str | None = None,
    client_auth: ssl.VerifyMode = ssl.CERT_NONE,
    server_preference: bool = False,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if not set_protocols(context, protocols):
        raise ValueError(f"no speakable protocol in {protocols}")
    context.set_ciphers(ciphers or f"DEFAULT:{SEC_LEVEL_0}")
    context.load_cert_chain(cert_file)
    if cafile is not None:
        context.load_verify_locations(cafile)
    context.verify_mode = client_auth
    if server_preference:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


@dataclass(frozen=True, slots=True)
class Negotiated:
    protocol: str  # ssl's spelling: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3
    cipher: str  # OpenSSL name


class TlsStream:
    """A TLS connection over an asyncio stream pair, after a completed handshake."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tls: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.tls = tls
        self._incoming = incoming
        self._outgoing = outgoing

    @classmethod
    async def handshake(
        cls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        timeout: float,
        initial: bytes = b"",
    ) -> TlsStream:
        """Runs the handshake. Raises ssl.SSLError, TimeoutError or ConnectionError."""
        incoming = ssl.MemoryBIO()
        outgoing = ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=server_side)
        if initial:
            incoming.write(initial)
        stream = cls(reader, writer, tls, incoming, outgoing)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await stream._flush()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError("handshake timed out") from None
                data = await asyncio.wait_for(reader.read(READ_SIZE), remaining)
                if data:
                    incoming.write(data)
                else:
                    incoming.write_eof()
            except ssl.SSLError:
                # Send the alert OpenSSL queued for the peer, then report.
                with contextlib.suppress(OSError, RuntimeError):
                    await stream._flush()
                raise
        await stream._flush()
        return stream

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    @property
    def negotiated(self) -> Negotiated:
        cipher = self.tls.cipher()
        return Negotiated(self.tls.version() or "", cipher[0] if cipher else "")

    def peer_certificate(self) -> bytes | None:
        return self.tls.getpeercert(binary_form=True)

    async def read(self, size: int = READ_SIZE) -> bytes:
        """Up to `size` bytes of application data; b"" at the end of the stream."""
        while True:
            try:
                return self.tls.read(size)
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self.reader.read(READ_SIZE)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    async def readline(self, limit: int = 4096) -> bytes:
        buffer = bytearray()
        while b"\n" not in buffer and len(buffer) < limit:
            chunk = await self.read(limit - len(buffer))
            if not chunk:
                break
            buffer += chunk
        return bytes(buffer)

    async def write(self, data: bytes) -> None:
        self.tls.write(data)
        await self._flush()

    async def close(self) -> None:
        with contextlib.suppress(ssl.SSLError, OSError, RuntimeError):
            self.tls.unwrap()
        with contextlib.suppress(OSError, RuntimeError):
            await self._flush()
        self.writer.close()


class PlainStream:
    """The same small interface as TlsStream, for cleartext connections."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, initial: bytes = b""
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._pending = initial

    async def read(self, size: int = READ_SIZE) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return await self.reader.read(size)

    async def readline(self, limit: int = 4096) -> bytes:
        if self._pending:
            newline = self._pending.find(b"\n")
            if newline >= 0:
                line, self._pending = self._pending[: newline + 1], self._pending[newline + 1 :]
                return line
            head, self._pending = self._pending, b""
            try:
                return head + await self.reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as error:
                return head + error.partial
            except asyncio.LimitOverrunError:
                return head
        try:
            return await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as error:
            return error.partial
        except asyncio.LimitOverrunError:
            return await self.reader.read(limit)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()


Stream = TlsStream | PlainStream


# --- return codes ---------------------------------------------------------------------------------

# Reference §5.4. Alerts a peer sends, and local OpenSSL reasons, to System SSL / AT-TLS codes.
_REASON_RC = {
    "UNSUPPORTED_PROTOCOL": 412,
    "NO_PROTOCOLS_AVAILABLE": 412,
    "VERSION_TOO_LOW": 412,
    "VERSION_TOO_HIGH": 412,
    "WRONG_SSL_VERSION": 412,
    "TLSV1_ALERT_PROTOCOL_VERSION": 412,
    "INAPPROPRIATE_FALLBACK": 412,
    "NO_SHARED_CIPHER": 402,
    "NO_CIPHERS_AVAILABLE": 402,
    "NO_SUITABLE_SIGNATURE_ALGORITHM": 402,
    "SSLV3_ALERT_HANDSHAKE_FAILURE": 402,
    "TLSV1_ALERT_INSUFFICIENT_SECURITY": 402,
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": 5001,
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": 403,
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": 401,
    "TLSV1_ALERT_UNKNOWN_CA": 435,
    "SSLV3_ALERT_BAD_CERTIFICATE": 414,
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": 405,
    "SSLV3_ALERT_CERTIFICATE_REVOKED": 431,
    "TLSV1_ALERT_INTERNAL_ERROR": 438,
    "WRONG_VERSION_NUMBER": 5003,
    "HTTP_REQUEST": 5003,
    "HTTPS_PROXY_REQUEST": 5003,
    "UNEXPECTED_EOF_WHILE_READING": 406,
}
# X509 verify result codes (OpenSSL) for a peer certificate we reject.
_VERIFY_RC = {
    9: 401,  # not yet valid
    10: 401,  # expired
    18: 8,  # self-signed leaf
    19: 8,  # self-signed in chain
    20: 8,  # unable to get local issuer: CA not in the ring
    21: 8,
    23: 431,  # revoked
}


def handshake_rc(error: BaseException) -> tuple[int, str]:
    """The return code AT-TLS would log for a failed handshake, and a short reason."""
    if isinstance(error, HandshakeFailed):
        return error.rc, error.reason
    if isinstance(error, ssl.SSLCertVerificationError):
        code = getattr(error, "verify_code", 0) or 0
        return _VERIFY_RC.get(code, 8), getattr(error, "verify_message", "") or str(error)
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return 5004, "handshake timed out"
    if isinstance(error, ssl.SSLError):
        reason = getattr(error, "reason", None) or ""
        if reason.startswith("SSLV3_ALERT_") or reason.startswith("TLSV1_ALERT_"):
            return _REASON_RC.get(reason, 439), reason
        if isinstance(error, ssl.SSLEOFError) or "EOF" in reason:
            return 406, reason or "peer closed the connection"
        return _REASON_RC.get(reason, 438), reason or str(error)
    if isinstance(error, (ConnectionError, OSError, asyncio.IncompleteReadError)):
        return 406, str(error) or type(error).__name__
    return 6000, f"{type(error).__name__}: {error}"


def looks_like_tls(first: bytes) -> bool:
    """A TLS record starts with a handshake (22) or alert (21) content type and version 3.x."""
    return len(first) >= 2 and first[0] in (0x15, 0x16) and first[1] == 0x03


def client_hello_versions(data: bytes) -> set[int] | None:
    """Protocol versions a ClientHello offers (0x0301 = TLS 1.0 ... 0x0304 = TLS 1.3).

    Reads the legacy version and the supported_versions extension. Returns None when `data`
    does not hold a whole ClientHello yet (or is not one).
    """
    if len(data) < 5 or data[0] != 0x16:
        return None
    record_length = int.from_bytes(data[3:5], "big")
    body = data[5 : 5 + record_length]
    if len(body) < record_length or len(body) < 4 or body[0] != 0x01:
        return None
    hello_length = int.from_bytes(body[1:4], "big")
    hello = body[4 : 4 + hello_length]
    if len(hello) < hello_length:
        return None  # a ClientHello spread over several records: not seen in practice here
    try:
        legacy = int.from_bytes(hello[0:2], "big")
        at = 2 + 32
        at += 1 + hello[at]  # session id
        at += 2 + int.from_bytes(hello[at : at + 2], "big")  # cipher suites
        at += 1 + hello[at]  # compression methods
        versions = {legacy}
        if at + 2 > len(hello):
            return versions
        end = at + 2 + int.from_bytes(hello[at : at + 2], "big")
        at += 2
        while at + 4 <= end:
            kind = int.from_bytes(hello[at : at + 2], "big")
            length = int.from_bytes(hello[at + 2 : at + 4], "big")
            value = hello[at + 4 : at + 4 + length]
            if kind == 0x002B and value:
                listed = value[1 : 1 + value[0]]
                versions = {
                    int.from_bytes(listed[i : i + 2], "big") for i in range(0, len(listed) - 1, 2)
                }
            at += 4 + length
        return versions
    except IndexError:
        return None


# A fatal protocol_version alert in a TLS 1.2 record.
PROTOCOL_VERSION_ALERT = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46])
