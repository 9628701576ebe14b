"""Labs and their checks: up behind a barrier and down with nothing left; the reachability
matrix, paths, routing tables and drift, each seen to pass and to fail with a useful message;
Linux peers in namespaces (root)."""
import os
import subprocess

import pytest

from pleblab import (Lab, LabError, PathError, assert_no_drift, assert_path,
                     assert_reachability, assert_routes, path, reachability,
                     topology_from_dict)

# a -- b -- c in a line: a and c reach each other through b
LINE = {"name": "line", "nodes": {
    "a": {"config": ['ifconfig_vnet0="inet 10.0.1.1/24"', 'defaultrouter="10.0.1.2"']},
    "b": {"config": ['ifconfig_vnet0="inet 10.0.1.2/24"', 'ifconfig_vnet1="inet 10.0.2.2/24"',
                     'gateway_enable="YES"']},
    "c": {"config": ['ifconfig_vnet0="inet 10.0.2.3/24"', 'defaultrouter="10.0.2.2"']}},
    "links": [["a:vnet0", "b:vnet0"], ["b:vnet1", "c:vnet0"]]}


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture(params=["fork", "spawn"])
def line(request):
    with Lab(topology_from_dict(LINE), launcher=request.param) as lab:
        yield lab


def test_lab_up_and_down_leave_nothing():
    lab = Lab(topology_from_dict(LINE)).up()
    pids = [s.pid for s in lab.stacks.values()]
    server = lab.launcher.proc
    assert len(os.listdir(lab.sockdir)) == 3
    lab.down()
    assert all(gone(p) for p in pids) and server.poll() is not None
    assert not os.path.exists(lab.workdir)


def test_reachability_matrix(line):
    m = assert_reachability(line)
    assert m.pairs == 8         # a: b's 2 + c's 1; b: a's 1 + c's 1; c: a's 1 + b's 2
    assert m.table() == ("          a     b     c\n"
                         "a         .    ok    ok\n"
                         "b        ok     .    ok\n"
                         "c        ok    ok     .\n")
    # c drops what it sends to a: a's pings to c go unanswered, and c's to a
    line["c"].run("route", "add", "-host", "10.0.1.1", "127.0.0.1", "-blackhole")
    m = reachability(line, wait=0.3, attempts=1)
    assert m.failures() == [("a", "10.0.2.3"), ("c", "10.0.1.1")]
    assert "c        --    ok     .\n" in m.table()
    with pytest.raises(AssertionError) as info:
        assert_reachability(line, wait=0.3, attempts=1)
    assert "reachability differs in 2 of 8 pairs" in str(info.value)
    assert "  c -> 10.0.1.1 (a): no reply" in str(info.value)
    # what is expected unreachable passes, and what should not answer but does fails
    assert_reachability(line, wait=0.3, attempts=1,
                        expect=lambda src, dst, addr: {src, dst} != {"a", "c"})
    with pytest.raises(AssertionError, match="c -> 10.0.2.2 \\(b\\): answered, but should not"):
        assert_reachability(line, wait=0.3, attempts=1, sources=["c"],
                            expect=lambda src, dst, addr: addr == "10.0.2.2" and False)


def test_paths(line):
    assert [(h.address, h.node) for h in path(line, "a", "10.0.2.3")] == \
        [("10.0.1.2", "b"), ("10.0.2.3", "c")]
    assert_path(line, "a", "10.0.2.3", ["b", "c"])
    assert_path(line, "a", "10.0.2.3", ["10.0.1.2", "10.0.2.3"])
    assert_path(line, "c", "10.0.1.2", ["b"])
    with pytest.raises(PathError, match="expected c, got 10.0.1.2\\(b\\) 10.0.2.3\\(c\\)"):
        assert_path(line, "a", "10.0.2.3", ["c"])
    line["c"].run("route", "delete", "default")
    with pytest.raises(PathError, match="but 10.0.2.3 does not answer a ping"):
        path(line, "a", "10.0.2.3")                     # c cannot answer any more
    with pytest.raises(PathError, match="c has no route to 10.0.1.1"):
        path(line, "c", "10.0.1.1")


def test_routes_and_drift(line):
    assert_routes(line["a"], contains=["default via 10.0.1.2", "10.0.1.0/24",
                                       {"destination": "10.0.1.1", "interface": "lo0"}],
                  excludes=["10.0.2.0/24", "default via 10.0.1.9"])
    with pytest.raises(AssertionError) as info:
        assert_routes(line["a"], contains=["10.0.2.0/24"], excludes=["default"])
    text = str(info.value)
    assert "missing: 10.0.2.0/24" in text and "present: default" in text
    assert "default            10.0.1.2           UGS       vnet0" in text     # the table
    assert_no_drift(line["b"])
    line["b"].run("route", "add", "-net", "10.7.0.0/16", "10.0.2.3")
    with pytest.raises(AssertionError, match="b drifted from its rc.conf:\n(.|\n)*10.7.0.0/16"):
        assert_no_drift(line["b"])


def test_a_node_that_fails_names_itself_and_nothing_stays():
    bad = dict(LINE, nodes=dict(LINE["nodes"], c={"config": ['ifconfig_vnet0="inet bogus"']}))
    lab = Lab(topology_from_dict(bad))
    with pytest.raises(LabError) as info:
        lab.up()
    assert "lab line did not come up:\n  c: " in str(info.value)
    assert all(gone(s.pid) for s in lab.stacks.values() if s.proc)
    assert not os.path.exists(lab.workdir)


def test_exec_on_nodes(line):
    assert line.exec("a", "route", "-n", "get", "10.0.2.3").ok
    with pytest.raises(LabError, match="no node 'z'"):
        line.exec("z", "ifconfig")


PEER = {"name": "peer", "nodes": {
    "r": {"config": ['ifconfig_vnet0="inet 10.9.0.1/24"', 'ifconfig_vnet1="inet 10.0.1.1/24"',
                     'gateway_enable="YES"']},
    "s": {"config": ['ifconfig_vnet0="inet 10.0.1.2/24"', 'defaultrouter="10.0.1.1"']},
    "h": {"kind": "linux", "routes": ["default via 10.9.0.1"]}},
    "links": [{"endpoints": ["h:eth0", "r:vnet0"], "address": "10.9.0.2/24"},
              ["r:vnet1", "s:vnet0"]]}


@pytest.mark.needs_root
def test_linux_peer_in_a_namespace():
    with Lab(topology_from_dict(PEER)) as lab:
        ns = lab["h"].netns
        assert "10.9.0.2/24" in lab["h"].exec("ip", "-4", "addr", "show", "eth0").stdout
        m = assert_reachability(lab)            # the kernel pings the stacks, they ping it
        assert ("h", "10.0.1.2") in m.results and ("s", "10.9.0.2") in m.results
        assert_path(lab, "s", "10.9.0.2", ["r", "h"])
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ns not in listed.split()
