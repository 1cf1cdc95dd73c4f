"""Is an address loopback? The one answer the proxy, its metrics and the MCP server share. No I/O here."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback", "is_loopback_host_header"]


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback IP (127.0.0.0/8, ::1): where maskkit listens unless told otherwise."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_host_header(value: str) -> bool:
    """A `Host` header naming a loopback name (`127.0.0.1:8000`, `[::1]:8000`, `localhost`, `x.localhost`)."""
    host = value.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    if host in ("localhost", "localhost.") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
