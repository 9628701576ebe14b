"""Topology files: what loads, what is refused (and how it is worded), the wiring plan and the
Graphviz drawing."""
import pytest

from pleblab import Lab, TopologyError, load_topology, topology_from_dict


def write(tmp_path, text, name="lab.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_topology_loads(tmp_path):
    (tmp_path / "r1.rc").write_text('ifconfig_vnet0="inet 10.0.0.1/24"\n')
    topo = load_topology(write(tmp_path, """
[nodes.r1]
rc = "r1.rc"
config = ['defaultrouter="10.0.0.2"']
nics = ["vnet5"]
[nodes.r2]
config = 'ifconfig_vnet0="inet 10.0.0.2/24"'
[[links]]
endpoints = ["r1:vnet0", "r2:vnet0"]
"""))
    assert topo.name == "lab"                   # the file's stem
    assert topo.nodes["r1"].rc == [str(tmp_path / "r1.rc")]
    assert topo.nodes["r1"].config == ['defaultrouter="10.0.0.2"']
    assert topo.nodes["r2"].config == ['ifconfig_vnet0="inet 10.0.0.2/24"']
    assert [(link.a, link.b) for link in topo.links] == [(("r1", "vnet0"), ("r2", "vnet0"))]


@pytest.mark.parametrize("text, problem", [
    ('[nodes.r1]\nfoo = 1', "nodes.r1: unknown key(s) foo"),
    ('nodez = 1', "unknown key(s) nodez"),
    ('name = "1x"\n[nodes.r1]', "lab name '1x'"),
    ('[nodes.r1]\nkind = "docker"', "nodes.r1.kind must be one of plebnet, linux"),
    ('[nodes.r1]\nrc = "missing.rc"', "nodes.r1.rc: no file"),
    ('[nodes.r1]\n[[links]]\nendpoints = ["r1:vnet0", "r9:vnet0"]',
     "links[0]: 'r9:vnet0' is not \"node:interface\" of a declared node"),
    ('[nodes.r1]\n[[links]]\nendpoints = ["r1:vnet0"]',
     "links[0] must be two \"node:interface\" endpoints"),
    ('links = [["r1:vnet0", "r2:vnet0"], ["r1:vnet0", "r3:vnet0"]]\n'
     '[nodes.r1]\n[nodes.r2]\n[nodes.r3]', "links[1]: r1:vnet0 is already used"),
    ('[nodes.r1]\n[[links]]\nendpoints = ["r1:vnet0", "r1:vnet1"]', "both ends on node r1"),
    ('[nodes.h1]\nkind = "linux"\n[nodes.h2]\nkind = "linux"\n'
     '[[links]]\nendpoints = ["h1:eth0", "h2:eth0"]\naddress = "10.0.0.1/24"',
     "a link needs a plebnet end"),
    ('[nodes.r1]\n[nodes.h1]\nkind = "linux"\n[[links]]\nendpoints = ["r1:vnet0", "h1:eth0"]',
     "needs the Linux side's address"),
    ('[nodes.r1]\n[nodes.h1]\nkind = "linux"', "nodes.h1: a linux node has exactly one link"),
    ('[nodes.h1]\nkind = "linux"\nconfig = ["x=1"]', "a linux node takes only routes"),
    ('[nodes.r1]\n[nodes', "lab.toml: "),                       # TOML syntax
])
def test_bad_topologies_are_named(tmp_path, text, problem):
    with pytest.raises(TopologyError) as info:
        load_topology(write(tmp_path, text))
    assert problem in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "lab.toml") + ": ")


def test_plan_gives_each_link_its_vni_and_ports():
    topo = topology_from_dict({"nodes": {"a": {}, "b": {}, "c": {"nics": ["vnet7"]}},
                               "links": [["a:vnet0", "b:vnet0"], ["b:vnet1", "c:vnet0"],
                                         ["c:vnet1", "a:vnet1"]]})
    plan = Lab(topo).plan()
    assert plan["c"]["vnet7"] == "none"
    seen_vnis, ports = set(), []
    for link in topo.links:
        (na, ia), (nb, ib) = link.a, link.b
        va, vb = plan[na][ia].split(":", 1)[1], plan[nb][ib].split(":", 1)[1]
        vni_a, local_a, remote_a = va.split(",")
        vni_b, local_b, remote_b = vb.split(",")
        assert vni_a == vni_b and vni_a not in seen_vnis
        seen_vnis.add(vni_a)
        assert (local_a, remote_a) == (remote_b, local_b)       # mirrored ends
        assert local_a.startswith("127.0.0.1:")
        ports += [local_a, local_b]
    assert len(set(ports)) == 6


def test_plan_puts_linux_peers_behind_taps():
    topo = topology_from_dict({"name": "t", "nodes": {"r": {}, "h": {"kind": "linux"}},
                               "links": [{"endpoints": ["h:eth0", "r:vnet3"],
                                          "address": "10.9.0.2/24"}]})
    assert topo.links[0].a == ("r", "vnet3")            # the stack end first
    assert Lab(topo).plan() == {"r": {"vnet3": "tap:eth0,netns=pleblab-t-h,addr=10.9.0.2/24"}}


def test_natural_interface_order():
    topo = topology_from_dict({"nodes": {"a": {"nics": ["vnet10", "vnet2", "vnet1"]}}})
    assert list(Lab(topo).plan()["a"]) == ["vnet1", "vnet2", "vnet10"]


def test_graph_is_dot():
    topo = topology_from_dict({"name": "g", "nodes": {"r1": {}, "h1": {"kind": "linux"}},
                               "links": [{"endpoints": ["r1:vnet0", "h1:eth0"],
                                          "address": "10.0.0.2/24"}]})
    assert topo.dot() == (
        'graph "g" {\n'
        '  node [shape=box, style=rounded];\n'
        '  "r1" [shape=box, label="r1\\nplebnet"];\n'
        '  "h1" [shape=ellipse, label="h1\\nlinux"];\n'
        '  "r1" -- "h1" [taillabel="vnet0", headlabel="eth0"];\n'
        '}\n')
