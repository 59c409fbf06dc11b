"""What Heroku's router tells the app about a request's client."""

import ipaddress

# One IPv6 host is routinely given a whole /64, so limits count the network, not the address.
IPV6_CLIENT_PREFIX = 64


def client_address(environ):
    """The client's address: the last X-Forwarded-For entry, which the router appends. Earlier
    entries are whatever the client sent, so they identify nothing."""
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.rsplit(",", 1)[-1].strip() or environ.get("REMOTE_ADDR", "")


def client_network(environ):
    """The client as a limit counts it: its IPv4 address, or its IPv6 address's /64 network
    (written as that network, e.g. ``2001:db8:1:2::/64``). Text that is no address is kept as it is."""
    address = client_address(environ)
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
