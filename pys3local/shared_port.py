"""The listening sockets of ``serve --workers``: one per worker on one port, and only
on a port no other server holds.

Each worker listens with a socket of its own (``SO_REUSEPORT``) so the kernel spreads
new connections evenly over them. With one socket shared by all workers, whichever
worker woke first took the connection, and a benchmark's 16 keep-alive connections
could all end up on one worker.

``SO_REUSEPORT`` has a cost: the kernel lets any process of the same user add its
own socket to the port, and then hands it a share of the connections. A second
server started on the same port (or workers left over from a dead server) would
silently split the clients between two configurations, old keys and old data
directory included. So :func:`listen_group`:

1. first binds and listens on the port *without* ``SO_REUSEPORT``: that fails,
   as for a single process, if anything at all holds the port;
2. then creates all the reuse-port sockets at once, in the supervisor, which keeps
   them for its whole life and hands one to each worker (a replacement worker gets
   the same socket, so no port is ever re-bound later, and connections waiting in
   a dead worker's queue are served by its successor);
3. and, where ``/proc/net/tcp`` exists, checks that every listener on the port is one
   of these sockets: another server doing the same thing in the instant between 1
   and 2 is caught by whichever of the two checks last, so both never run together.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from pathlib import Path

from pys3local.runner import LISTEN_BACKLOG, ListenAddress, bind_socket, socket_family

_TCP_LISTEN = "0A"
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def listen_group(address: ListenAddress, count: int) -> list[socket.socket]:
    """``count`` listening sockets sharing ``address``'s port; raises OSError
    (``EADDRINUSE``) when anything else listens there."""
    probe = bind_socket(address)  # SO_REUSEADDR only: fails if the port is held
    port = probe.getsockname()[1]  # the port the kernel chose for port 0
    probe.close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket_family(address.host), socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((address.host, port))
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
        if foreign_listeners(sockets):
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def foreign_listeners(sockets: list[socket.socket]) -> list[int]:
    """Inodes of listening TCP sockets on the port of ``sockets`` (whose addresses
    overlap theirs) that are not ``sockets``; empty where /proc cannot tell."""
    host, port = sockets[0].getsockname()[:2]
    ours = {os.fstat(sock.fileno()).st_ino for sock in sockets}
    mine = _address(host)
    foreign = []
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            hex_address, _, hex_port = local.partition(":")
            if state != _TCP_LISTEN or int(hex_port, 16) != port or inode in ours:
                continue
            other = _address(socket.inet_ntop(_family_of(size), _kernel_bytes(hex_address)))
            if _overlap(mine, other):
                foreign.append(inode)
    return foreign


def _overlap(a: _IPAddress, b: _IPAddress) -> bool:
    """Whether sockets listening on ``a`` and on ``b`` (one port) can take the same
    connections."""
    if a.version == b.version:
        return a.is_unspecified or b.is_unspecified or a == b
    six = a if a.version == 6 else b
    return six.is_unspecified  # a dual-stack [::] socket takes IPv4 connections too


def _family_of(size: int) -> socket.AddressFamily:
    return socket.AF_INET if size == 4 else socket.AF_INET6


def _kernel_bytes(hex_address: str) -> bytes:
    """/proc/net/tcp prints addresses as 32-bit words in host byte order."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "big":
        return raw
    return b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))


def _address(text: str) -> _IPAddress:
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
