"""What the NDP dump (NET_RT_FLAGS af inet6, which ndp -a prints) says of each entry's
Neighbor Discovery state, in-process: ndp_netlink.c print_entry's state letter comes from the
entry's ND6_LLINFO_* state, its R flag from ln_router, its probe count from la_asked, and
its expiry from la_expire (when a REACHABLE entry goes stale, then the stale entry's
collection)."""
from __future__ import annotations

import pytest

from plebproto.constants import AF_INET6
from plebnet_core.dataplane import nd6
from plebnet_core.dataplane.wire import icmp6
from test_dataplane_ipv6 import ME, PEER, add6, frame6
from test_dataplane_unit import PEER_MAC, Rig


@pytest.fixture
def host():
    r = Rig()
    add6(r, "vnet0", "2001:db8::1")
    return r


def info(host):
    (row,) = [host.stack.ll_info(e) for e in host.ifp().llinfo6.values()
              if e.addr == int.from_bytes(PEER, "big")]
    return row


def test_dump_follows_incomplete_reachable_stale_and_the_router_flag(host):
    rig = host
    assert rig.dp.ip6.output(ME, PEER, 0, 58, icmp6.echo_request(ME, PEER, 9, 1)) == 0
    row = info(rig)
    assert (row["af"], row["mac"], row["state"], row["router"], row["probes"]) == (
        AF_INET6, None, nd6.INCOMPLETE, False, 1)
    na = icmp6.neighbor_advert(PEER, ME, PEER, PEER_MAC, icmp6.NA_SOLICITED
                               | icmp6.NA_OVERRIDE | icmp6.NA_ROUTER)
    rig.feed("vnet0", frame6(rig, PEER, ME, na, hlim=255))
    row = info(rig)
    reachable = rig.dp.nd6.reachable
    assert (row["mac"], row["state"], row["router"], row["probes"]) == (
        ":".join(f"{b:02x}" for b in PEER_MAC), nd6.REACHABLE, True, 0)
    assert abs(row["expire"] - reachable) < 1e-6     # when it goes stale
    rig.clock.now += reachable + 1
    row = info(rig)
    assert row["state"] == nd6.STALE
    assert abs(row["expire"] - (nd6.GC_TIMER - 1)) < 1e-6
    # an NA without R: no longer a router (ln_router follows the flag)
    na = icmp6.neighbor_advert(PEER, ME, PEER, PEER_MAC, icmp6.NA_SOLICITED
                               | icmp6.NA_OVERRIDE)
    rig.feed("vnet0", frame6(rig, PEER, ME, na, hlim=255))
    assert info(rig)["router"] is False and info(rig)["state"] == nd6.REACHABLE
