"""The UDP socket under an RTP transport: binding inside a port range, addresses, and the kernel's
receive timestamps (SO_TIMESTAMPNS) that keep arrival times exact when datagrams are read on the
pacer clock's ticks rather than as they arrive."""

from __future__ import annotations

import errno
import ipaddress
import random
import socket
import struct
import sys

from callwright.errors import MediaError

MAX_DATAGRAM = 2048
#: SO_TIMESTAMPNS: the kernel's receive time of each datagram (Linux; Python does not name it).
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


def enable_kernel_timestamps(sock: socket.socket) -> bool:
    """Ask for each datagram's kernel receive time (arrival times that do not depend on when the
    clock reads the socket). False where the platform does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def kernel_time(ancdata: list[tuple[int, int, bytes]], realtime_offset: float) -> float | None:
    """The SO_TIMESTAMPNS receive time in ``ancdata`` on the monotonic clock, or None."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return float(seconds + nanoseconds * 1e-9 - realtime_offset)
    return None


Address = tuple[str, int]


def peer_address(addr: tuple[str | int, ...]) -> Address:
    """``(host, port)`` of a socket address: IPv4 ones are that already, IPv6 ones also carry flow
    info and scope id."""
    return addr if len(addr) == 2 else (addr[0], addr[1])  # type: ignore[return-value]


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def candidate_ports(port_range: tuple[int, int], rng: random.Random) -> list[int]:
    low, high = port_range
    if (low, high) == (0, 0):
        return [0]
    ports = [p for p in range(low, high + 1) if p % 2 == 0] or list(range(low, high + 1))
    start = rng.randrange(len(ports))
    return ports[start:] + ports[:start]


def bind_udp(bind_host: str, port_range: tuple[int, int], rng: random.Random) -> socket.socket:
    """A non-blocking UDP socket bound to the first free port of ``port_range`` (even ports
    first, from a random start; ``(0, 0)``: any port). Raises MediaError when none is free."""
    ipv6 = ipaddress.ip_address(bind_host).version == 6
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    for port in candidate_ports(port_range, rng):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((bind_host, port))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            raise MediaError(f"cannot bind UDP {bind_host}:{port}: {exc}") from exc
        sock.setblocking(False)
        return sock
    low, high = port_range
    raise MediaError(f"no free UDP port for RTP on {bind_host} in {low}-{high}")
