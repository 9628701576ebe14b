"""A hub and 49 spokes (hub_spoke.toml, 50 stacks): every LAN reaches every other through the
hub, and a spoke whose link fails drops out of the matrix while the rest stays whole."""
import pytest

from pleblab import assert_path, assert_reachability, assert_routes

pytestmark = pytest.mark.pleblab_topology("hub_spoke.toml")

SPOKES = 49


def lan(node: str) -> str:
    return "10.1.0.1" if node == "hub" else f"10.1.{node[1:]}.1"


def lans(lab) -> dict:
    return {name: [lan(name)] for name in lab.stacks}


def test_lab_is_up(pleblab_module):
    assert len(pleblab_module.stacks) == SPOKES + 1
    assert_routes(pleblab_module["hub"],
                  contains=[f"10.1.{n}.0/24 via 10.0.{n}.2" for n in range(1, SPOKES + 1)])
    assert_routes(pleblab_module["s7"], contains=["default via 10.0.7.1"])


def test_every_lan_reaches_every_lan(pleblab_module):
    matrix = assert_reachability(pleblab_module, targets=lans(pleblab_module))
    assert matrix.pairs == 50 * 49


def test_spoke_to_spoke_goes_through_the_hub(pleblab_module):
    assert_path(pleblab_module, "s1", lan("s2"), ["hub", "s2"])
    assert_path(pleblab_module, "s49", lan("hub"), ["10.1.0.1"])


def test_a_cut_spoke_drops_out_alone(pleblab_module):
    s5 = pleblab_module["s5"]
    s5.run("ifconfig", "vnet0", "down")
    try:
        assert_reachability(pleblab_module, targets=lans(pleblab_module),
                            sources=["hub", "s4", "s5", "s6"],
                            expect=lambda src, dst, addr: "s5" not in (src, dst),
                            attempts=1, wait=0.5)
    finally:
        s5.run("ifconfig", "vnet0", "up")         # the static default route stayed
    assert_reachability(pleblab_module, targets=lans(pleblab_module), sources=["s5"])
