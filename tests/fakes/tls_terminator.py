"""A TLS endpoint in front of a plaintext gRPC server, as a production Temporal's frontend (or a
load balancer before it) presents itself: OpenSSL (Python's `ssl`) terminates TLS, offers HTTP/2 by
ALPN, and with a CA file requires and verifies a client certificate (mutual TLS); the bytes are
then passed on to the server unchanged. What clients send is kept, so that a test can read the
HTTP/2 request headers they sent (`request_headers`: the gRPC metadata, an API key's
`authorization` among them).

Debian's stunnel4 (5.68) would do the same but cannot negotiate ALPN, which the Temporal SDK's
Rust core requires (its connection fails with `H2NotNegotiated`), hence this small proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from pathlib import Path

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, CONTINUATION = 0x1, 0x9
END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20


class TLSTerminator:
    """Listens on 127.0.0.1:`port` (TLS) and forwards to `upstream` (host:port, plaintext).

    `handshakes_refused` counts clients whose handshake failed (e.g. an untrusted certificate).
    Use as a context manager; it runs on an event loop of its own in a thread.
    """

    def __init__(self, upstream: str, port: int, cert: Path, key: Path, client_ca: Path | None) -> None:
        host, _, upstream_port = upstream.rpartition(":")
        self._upstream = (host or "127.0.0.1", int(upstream_port))
        self.port = port
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["h2"])
        if client_ca is not None:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        self._context = context
        self.handshakes_refused = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-terminator", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent: list[bytearray] = []  # what each client sent, connection by connection

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> TLSTerminator:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TLS terminator did not start within 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
        """Stop listening, close every open connection and wait for its pipes to end."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(self._on_error)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self._context)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

    def _on_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        # A refused handshake surfaces here (asyncio logs it otherwise); it is counted, not fatal.
        if isinstance(context.get("exception"), ssl.SSLError | ConnectionError):
            self.handshakes_refused += 1
            return
        loop.default_exception_handler(context)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        writers = [client_writer]
        self._writers.add(client_writer)
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
            except OSError:
                return
            writers.append(upstream_writer)
            self._writers.add(upstream_writer)
            sent = bytearray()
            self._sent.append(sent)
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer, sent), self._pipe(upstream_reader, client_writer)
            )
        finally:
            for writer in writers:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                self._writers.discard(writer)
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kept: bytearray | None = None
    ) -> None:
        try:
            while data := await reader.read(65536):
                if kept is not None:
                    kept += data
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def request_headers(self) -> list[dict[str, str]]:
        """The headers of every HTTP/2 request clients sent so far (each connection's header blocks
        decoded in order, as the server's HPACK decoder would)."""
        requests: list[dict[str, str]] = []
        for sent in list(self._sent):
            data = bytes(sent)
            if not data.startswith(PREFACE):
                continue
            decoder, block, at = hpack.Decoder(), b"", len(PREFACE)
            while at + 9 <= len(data):
                length = int.from_bytes(data[at : at + 3], "big")
                kind, flags = data[at + 3], data[at + 4]
                payload = data[at + 9 : at + 9 + length]
                at += 9 + length
                if len(payload) < length:
                    break
                if kind == HEADERS:
                    padding = payload[0] if flags & PADDED else 0
                    payload = payload[1:] if flags & PADDED else payload
                    payload = payload[5:] if flags & PRIORITY else payload
                    block = payload[: len(payload) - padding]
                elif kind == CONTINUATION:
                    block += payload
                else:
                    continue
                if flags & END_HEADERS:
                    pairs = decoder.decode(block, raw=True)
                    requests.append({bytes(n).decode(): bytes(v).decode() for n, v in pairs})
                    block = b""
        return requests
