"""Three routers in a triangle with static routes (triangle.toml): everyone reaches everyone
over the direct links, and when the r1-r3 link fails the traffic between their LANs is moved
onto the path through r2 (static routes do not move by themselves: the test is the operator)."""
import pytest

from pleblab import assert_no_drift, assert_path, assert_reachability, assert_routes

pytestmark = pytest.mark.pleblab_topology("triangle.toml")

LAN = {"r1": "10.1.1.1", "r2": "10.1.2.1", "r3": "10.1.3.1"}


def test_everyone_reaches_everyone(pleblab):
    matrix = assert_reachability(pleblab)
    assert matrix.pairs == 3 * 2 * 3            # 3 nodes, each pinging the others' 3 addresses


def test_paths_and_tables_follow_the_rc_conf(pleblab):
    assert_path(pleblab, "r1", LAN["r3"], ["r3"])
    assert_path(pleblab, "r1", "10.0.23.3", ["r2", "r3"])       # r1 reaches r2-r3 via r2
    assert_path(pleblab, "r3", LAN["r2"], ["10.1.2.1"])
    assert_routes(pleblab["r1"], contains=["10.1.3.0/24 via 10.0.13.3", "10.1.2.0/24"],
                  excludes=["default"])
    for node in ("r1", "r2", "r3"):
        assert_no_drift(pleblab[node])


def test_failover_takes_the_other_path(pleblab):
    r1, r3 = pleblab["r1"], pleblab["r3"]
    assert_path(pleblab, "r1", LAN["r3"], ["r3"])

    # the r1-r3 link goes down: r1 hears of it on its routing socket
    with r1.monitor() as events:
        r1.run("ifconfig", "vnet1", "down")
        event = next(events)
    assert event["ifname"] == "vnet1" and not event["flags"] & 1        # IFF_UP gone
    r3.run("ifconfig", "vnet1", "down")
    assert_routes(r1, contains=["10.1.3.0/24 via 10.0.13.3"], excludes=["10.0.13.0/24"])
    assert not r1.ping(LAN["r3"], count=2, wait=0.5).ok       # the static route leads nowhere

    # fail over: the LAN routes through the dead link go through r2 instead
    r1.run("route", "change", "10.1.3.0/24", "10.0.12.2")
    r3.run("route", "change", "10.1.1.0/24", "10.0.23.2")
    assert_path(pleblab, "r1", LAN["r3"], ["r2", "r3"])
    assert_path(pleblab, "r3", LAN["r1"], ["10.0.23.2", "10.1.1.1"])
    assert r1.ping(LAN["r3"], src=LAN["r1"]).ok               # LAN to LAN, both ways via r2
    assert_reachability(pleblab, targets={n: [a] for n, a in LAN.items()})
    with pytest.raises(AssertionError, match="route add -net 10.1.3.0/24 10.0.13.3"):
        assert_no_drift(r1)                     # the running routes differ from rc.conf now

    # the link comes back and the routes return to the rc.conf's: no drift, direct path
    for stack, lan_route, gw in ((r1, "10.1.3.0/24", "10.0.13.3"),
                                 (r3, "10.1.1.0/24", "10.0.13.1")):
        stack.run("ifconfig", "vnet1", "up")
        stack.run("route", "change", lan_route, gw)
    assert_path(pleblab, "r1", LAN["r3"], ["r3"])
    assert_no_drift(r1)
    assert_no_drift(r3)
