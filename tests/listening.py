"""The TCP sockets a process tree listens on, read from Linux's /proc (no psutil): for tests
that check what a server exposes. ``readable()`` says whether this system allows it."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from pathlib import Path

TABLES = {"tcp": socket.AF_INET, "tcp6": socket.AF_INET6}
LISTEN = "0A"  # the kernel's TCP_LISTEN state in /proc/net/tcp*


def readable() -> bool:
    return Path("/proc/net/tcp").is_file() and os.access(f"/proc/{os.getpid()}/fd", os.R_OK)


def _address(hex_address: str, family: int) -> str:
    words = [hex_address[i : i + 8] for i in range(0, len(hex_address), 8)]
    packed = b"".join(struct.pack("<I", int(word, 16)) for word in words)  # host-order words
    return socket.inet_ntop(family, packed)


def listening_sockets() -> dict[int, tuple[str, int]]:
    """``{socket inode: (address, port)}`` of every listening TCP socket of this system."""
    found = {}
    for table, family in TABLES.items():
        path = Path("/proc/net") / table
        if not path.is_file():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN:
                address, port = fields[1].split(":")
                found[int(fields[9])] = (_address(address, family), int(port, 16))
    return found


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # gone meanwhile
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    except OSError:
        pass
    return inodes


def listening_in_tree(root: int) -> list[tuple[int, str, str, int]]:
    """``(pid, command line, address, port)`` of every socket the tree of ``root`` listens on."""
    sockets = listening_sockets()
    found = []
    for pid in process_tree(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        for inode in socket_inodes(pid) & set(sockets):
            found.append((pid, command.strip()[:200], *sockets[inode]))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback
