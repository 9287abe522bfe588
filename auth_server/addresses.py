"""Which IP addresses count as "public": the address fence of every fetch a client can aim.

:mod:`auth_server.public_fetch` connects only to addresses for which :func:`is_public_address`
is true. The answer comes from this module's own tables, taken from the IANA special-purpose
address registries (RFC 6890 and its updates), not from :attr:`ipaddress.IPv4Address.is_global`:
that property's tables change between Python releases, and it calls several IPv6 *wrappers*
of an IPv4 address "global" — ``64:ff9b::a9fe:a9fe`` is 169.254.169.254, the cloud metadata
service, reached through a NAT64 gateway.

So an IPv6 address that carries an IPv4 address inside is judged by the IPv4 address it
carries:

==========================  =================  ===========================================
range                       name               where the IPv4 address sits
==========================  =================  ===========================================
``::ffff:0:0/96``           IPv4-mapped        last 32 bits (RFC 4291 §2.5.5.2)
``::ffff:0:0:0/96``         IPv4-translated    last 32 bits (RFC 2765 §2.1)
``::/96``                   IPv4-compatible    last 32 bits (RFC 4291 §2.5.5.1, deprecated)
``64:ff9b::/96``            NAT64 well-known   last 32 bits (RFC 6052 §2.1)
``2002::/16``               6to4               bits 16–47 (RFC 3056 §2)
==========================  =================  ===========================================

Two wrappers are refused whatever they carry: the local-use NAT64 prefix ``64:ff9b:1::/48``
(RFC 8215: an operator's own translator, never global) and Teredo ``2001::/32`` (RFC 4380:
a host behind NAT, reached through relays the AS does not choose; no document host uses it).
Every other IPv6 address must be global unicast (``2000::/3``, RFC 4291 §2.4) and outside the
special blocks below.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA IPv4 Special-Purpose Address Registry: every block that is not globally reachable,
# plus the few "global" ones that are anycast infrastructure, never a document host.
_IPV4_NOT_PUBLIC: Final = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        "0.0.0.0/8",  # "this network" (RFC 791); 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # shared address space, carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback (RFC 1122)
        "169.254.0.0/16",  # link-local, home of cloud metadata services (RFC 3927)
        "172.16.0.0/12",  # private (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890)
        "192.0.2.0/24",  # documentation TEST-NET-1 (RFC 5737)
        "192.31.196.0/24",  # AS112 (RFC 7535)
        "192.52.193.0/24",  # AMT relays (RFC 7450)
        "192.88.99.0/24",  # former 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",  # private (RFC 1918)
        "192.175.48.0/24",  # AS112 direct delegation (RFC 7534)
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "198.51.100.0/24",  # documentation TEST-NET-2 (RFC 5737)
        "203.0.113.0/24",  # documentation TEST-NET-3 (RFC 5737)
        "224.0.0.0/4",  # multicast (RFC 5771)
        "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast (RFC 1112, RFC 919)
    )
)

_GLOBAL_UNICAST: Final = ipaddress.IPv6Network("2000::/3")
# Inside 2000::/3, the IANA IPv6 Special-Purpose Address Registry's blocks that are not
# globally reachable (2001::/23 covers Teredo, ORCHID, benchmarking and the rest).
_IPV6_NOT_PUBLIC: Final = tuple(
    ipaddress.IPv6Network(block)
    for block in (
        "2001::/23",  # IETF protocol assignments, Teredo 2001::/32 among them (RFC 2928, RFC 4380)
        "2001:db8::/32",  # documentation (RFC 3849)
        "2620:4f:8000::/48",  # AS112 (RFC 7534)
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # segment routing SIDs (RFC 9602)
    )
)
_NAT64_WELL_KNOWN: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_TRANSLATED: Final = ipaddress.IPv6Network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 wrapper carries (the table in the module docstring), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64_WELL_KNOWN or ip in _IPV4_TRANSLATED:
        return low32
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: (unspecified) nor ::1 (loopback)
        return low32
    return None


def is_public_address(ip: IPAddress) -> bool:
    """Whether a fetch may connect to ``ip``: a globally reachable unicast host address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return not any(ip in block for block in _IPV4_NOT_PUBLIC)
    inner = embedded_ipv4(ip)
    if inner is not None:
        return is_public_address(inner)
    if ip in _NAT64_LOCAL_USE:
        return False
    return ip in _GLOBAL_UNICAST and not any(ip in block for block in _IPV6_NOT_PUBLIC)


def parse_address(text: str) -> IPAddress:
    """An address as a resolver prints it; an IPv6 zone (``fe80::1%eth0``) is dropped."""
    return ipaddress.ip_address(text.split("%", 1)[0])


# The WHATWG URL standard's IPv4 parser (which browsers and curl-like tools follow, and which
# inet_aton in getaddrinfo mirrors) reads a host whose last label is a number — decimal,
# 0x-hex or 0-octal — as an IPv4 address: 2852039166, 0xa9.0xfe.0xa9.0xfe and 0251.254.169.254
# are all 169.254.169.254.
_NUMERIC_LABEL: Final = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


def is_ip_literal(host: str) -> bool:
    """Whether a URL host is an address rather than a name, in any spelling a parser accepts."""
    host = host.strip("[]").rstrip(".")
    if ":" in host:
        return True  # only IPv6 literals contain ':' in a host
    last_label = host.rsplit(".", 1)[-1]
    return bool(_NUMERIC_LABEL.match(last_label))
