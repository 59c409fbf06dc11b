"""What the app learns of a request's client from Heroku's router (herokuapp.router)."""

import pytest

from herokuapp.router import client_address, client_network


def test_the_client_is_the_last_forwarded_address_which_the_router_appended():
    assert (
        client_address({"HTTP_X_FORWARDED_FOR": "10.0.0.1, 198.51.100.7", "REMOTE_ADDR": "10.1.1.1"}) == "198.51.100.7"
    )


def test_without_the_routers_header_the_client_is_the_peer():
    assert client_address({"REMOTE_ADDR": "10.1.1.1"}) == "10.1.1.1"


@pytest.mark.parametrize(
    ("forwarded", "network"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::9", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::9]", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("not an address", "not an address"),
    ],
)
def test_limits_count_an_ipv4_address_or_an_ipv6_64_network(forwarded, network):
    assert client_network({"HTTP_X_FORWARDED_FOR": forwarded}) == network
