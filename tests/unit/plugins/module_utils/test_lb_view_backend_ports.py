"""_lb_view.backend_ports / read_backend_ports: which servers a load balancer's backend has and
where they point, read through the forwarded runtime API by socket_forward (option backend)
for the deploy role's check that every replica has its server before a deploy changes
anything. Against a read captured from a real HAProxy 2.6 (tests/unit/fixtures/haproxy/)."""
from __future__ import annotations

import os

from ansible_collections.dockyard.fleet.plugins.module_utils import _haproxy as h
from ansible_collections.dockyard.fleet.plugins.module_utils._lb_view import (
    backend_ports, read_backend_ports)

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "haproxy")


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


def read_all():
    return h.parse_read(fixture("read_all_admin.txt"), None, level=True, info=True, backend_rows=True)


def test_servers_of_one_backend_with_their_ports():
    assert backend_ports(read_all(), "app") == {
        "app1-1": 8081, "app1-2": 8082, "app2-1": 8081, "app2-2": 8082, "app3-1": 8081, "app3-2": 8082}


def test_port_from_servers_state_when_show_stat_has_no_address_and_none_while_unresolved():
    ports = backend_ports(read_all(), "other")
    assert ports["dns1"] is None            # a DNS name not resolved yet: no address
    assert ports["nocheck"] == 8082
    assert backend_ports(read_all(), "commas") == {"c1": 8093}   # no addr in show stat
    assert backend_ports(read_all(), "nosuch") == {}


class Client:
    def __init__(self, reply=None, error=None):
        self.reply, self.error, self.sent = reply, error, []

    def command(self, cmd):
        self.sent.append(cmd)
        if self.error:
            raise self.error
        return self.reply


def test_read_is_one_exchange_of_the_backend():
    # the captured reply after `show cli level` and `show info`: show stat + show servers state
    text = fixture("read_all_admin.txt").split("\n\n", 2)[2]
    client = Client(text)
    ports, error = read_backend_ports(client, "static")
    assert error is None and ports == {"s1": 8081, "s2": 8082}
    assert client.sent == [h.read_command("static")]


def test_a_backend_haproxy_does_not_know_or_a_dead_socket_is_an_error_not_an_exception():
    ports, error = read_backend_ports(Client("Can't find backend.\n\n"), "nosuch")
    assert ports is None and "find backend" in error
    ports, error = read_backend_ports(Client(error=h.SocketError("cannot connect to the stats socket x")), "app")
    assert ports is None and "cannot connect" in error
    ports, error = read_backend_ports(Client(""), "app")
    assert ports is None and "unexpected reply" in error
