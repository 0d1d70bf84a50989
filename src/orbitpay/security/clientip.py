"""The client's address, from forwarding headers only when a trusted proxy sent them.

Rate limits and export caps are per client address, so a client must not be
able to choose it. ``X-Forwarded-For`` and ``Forwarded`` are plain request
headers: anyone can send them. They are believed only when the TCP peer is
one of ``ORBITPAY_TRUSTED_PROXIES`` (addresses or CIDRs; empty by default, so
by default the peer address is the client). Then the chain is read from the
right (each proxy appends the address it received the request from) past every
trusted hop; the first untrusted address is the client. It must parse as an IP
address: anything else (a name, garbage, an oversized value) stops the walk and
the last hop that could be verified is used instead. The address is returned
in canonical form, so a limiter key is never longer than an IPv6 address.

uvicorn's own forwarded-header handling is switched off where the service
configures it (``proxy_headers=False``): one implementation, one setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

# Hops examined from the right: a chain longer than this is not followed further.
MAX_HOPS = 16


def parse_ip(text: str) -> Address | None:
    """``text`` as an IP address (``[v6]:port``, ``v4:port`` and quotes allowed), else None."""
    value = text.strip().strip('"')
    if value.startswith("["):  # [2001:db8::1]:8080 (Forwarded, RFC 7239)
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # 192.0.2.1:8080
        value = value.split(":", 1)[0]
    value = value.split("%", 1)[0]  # an IPv6 zone never identifies a remote client
    if not value or len(value) > 45:
        return None
    try:
        address = ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def forwarded_chain(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The forwarded addresses, leftmost first: ``Forwarded`` ``for=`` if sent, else XFF."""
    forwarded: list[str] = []
    xff: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            for element in value.decode("latin-1").split(","):
                for pair in element.split(";"):
                    key, _, val = pair.partition("=")
                    if key.strip().lower() == "for":
                        forwarded.append(val.strip())
        elif name == b"x-forwarded-for":
            xff.extend(part.strip() for part in value.decode("latin-1").split(","))
    return forwarded or xff


def client_address(
    peer: str | None,
    headers: Iterable[tuple[bytes, bytes]],
    trusted: Sequence[Network],
) -> str:
    """The client's canonical address (see the module docstring); ``"unknown"`` if none."""
    peer_ip = parse_ip(peer) if peer else None
    if peer_ip is None:
        return "unknown"
    if not trusted or not _trusted(peer_ip, trusted):
        return str(peer_ip)
    hop = peer_ip
    for entry in reversed(forwarded_chain(headers)[-MAX_HOPS:]):
        address = parse_ip(entry)
        if address is None:
            return str(hop)  # garbage in the chain: the last verifiable hop
        hop = address
        if not _trusted(address, trusted):
            return str(address)
    return str(hop)  # every hop trusted (e.g. a request from the proxy's own host)
