"""wsutil.py: WebSocket helpers for the end-to-end tests (python websockets 10.4, and raw frames)."""
import asyncio
import os
import socket
import struct

import websockets

from conftest import SLOW


def run(coro):
    return asyncio.run(coro)


async def connect(url, **kw):
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", None)
    kw.setdefault("open_timeout", 10 * SLOW)
    kw.setdefault("close_timeout", 5 * SLOW)
    return await websockets.connect(url, **kw)


async def recv(ws, timeout=5.0):
    return await asyncio.wait_for(ws.recv(), timeout * SLOW)


async def expect_silence(ws, seconds=0.5):
    """Asserts nothing arrives for `seconds`."""
    try:
        msg = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"expected no message, got {msg!r}")


async def wait_closed(ws, timeout=5.0):
    """Waits until the server closes; returns (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout * SLOW)
    except websockets.exceptions.ConnectionClosed as e:
        return e.code, e.reason


class RawWS:
    """A hand-driven WebSocket client for frames python websockets refuses to send."""

    def __init__(self, port, path="/dev", headers=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                 "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.s.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            data += chunk
        head, _, self.buf = data.partition(b"\r\n\r\n")
        self.status = int(head.split()[1])

    def send_frame(self, opcode, payload, fin=True, mask=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        hdr = bytes([b0])
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr += bytes([mbit | n])
        elif n < 65536:
            hdr += bytes([mbit | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([mbit | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            hdr += key
        self.s.sendall(hdr + payload)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def recv_frame(self):
        """Returns (opcode, payload, fin)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload, bool(b0 & 0x80)

    def recv_close(self):
        """Reads frames until a close; returns (code, reason)."""
        while True:
            op, p, _ = self.recv_frame()
            if op == 8:
                code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
                return code, p[2:].decode()

    def close(self):
        self.s.close()
