"""Who the MLLP listener takes results from (MLLP_ALLOWED_PEERS): addresses and networks, v4 and v6."""

from __future__ import annotations

import ipaddress

import pytest

from monitoring.labfeed.mllp import peer_allowed

ENGINE = [ipaddress.ip_network("10.1.2.3"), ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32")]


@pytest.mark.parametrize(("host", "allowed"), [
    ("10.1.2.3", True),
    ("10.1.2.4", False),
    ("192.0.2.77", True),
    ("::ffff:192.0.2.77", True),  # an IPv4 sender seen on a dual-stack socket
    ("::ffff:10.1.2.4", False),
    ("2001:db8::5%eth0", True),  # a zone is not part of the address
    ("2001:db9::5", False),
    ("?", False),  # the socket gave no peer name
    ("", False),
])
def test_only_the_listed_addresses_and_networks_are_let_in(host, allowed):
    assert peer_allowed(host, ENGINE) is allowed


def test_nothing_listed_lets_nobody_in():
    assert not peer_allowed("127.0.0.1", [])
