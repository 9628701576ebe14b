"""Declared argument schemas (plebproto.schema), checked at the stack's boundary: values of
the wrong type, out of range, fractional or not finite are EINVAL over a real socket, before
any handler runs, and the stack keeps answering."""
import math

import msgpack
import pytest

from plebproto import protocol
from plebproto.constants import EINVAL
from plebproto.errors import OpError
from plebproto.schema import SCHEMAS, SUBSCHEMAS, check

IFNAME = {"ifname": "vnet0"}
BAD = [
    # ping(8)'s numbers: NaN and infinities would reach the timers
    ("ping", {"dst": "127.0.0.1", "interval": math.nan}, "interval"),
    ("ping", {"dst": "127.0.0.1", "interval": math.inf}, "interval"),
    ("ping", {"dst": "127.0.0.1", "timeout": -math.inf}, "timeout"),
    ("ping", {"dst": "127.0.0.1", "waittime": math.nan}, "waittime"),
    ("ping", {"dst": "127.0.0.1", "interval": -1.0}, "interval"),
    ("ping", {"dst": "127.0.0.1", "interval": "1"}, "interval"),
    ("ping", {"dst": "127.0.0.1", "interval": None}, "interval"),
    ("ping", {"dst": "127.0.0.1", "count": 1.5}, "count"),
    ("ping", {"dst": "127.0.0.1", "count": -1}, "count"),
    ("ping", {"dst": "127.0.0.1", "ttl": 256}, "ttl"),
    ("ping", {"dst": "127.0.0.1", "size": 1 << 40}, "size"),
    ("ping", {"count": 1}, "dst"),
    # integers: fractional, negative, beyond their C type, a bool for an int
    ("ioctl", {"req": "SIOCSIFMTU", **IFNAME, "mtu": 1400.0}, "mtu"),
    ("ioctl", {"req": "SIOCSIFMTU", **IFNAME, "mtu": -1}, "mtu"),
    ("ioctl", {"req": "SIOCSIFMTU", **IFNAME, "mtu": True}, "mtu"),
    ("ioctl", {"req": "SIOCSIFFLAGS", **IFNAME, "set": 1 << 32}, "set"),
    ("ioctl", {"req": "SIOCSIFFLAGS", **IFNAME, "clear": -1}, "clear"),
    ("ioctl", {"req": "SIOCAIFADDR", **IFNAME, "addr": "10.0.0.2", "plen": 24.5}, "plen"),
    ("ioctl", {"req": "SIOCAIFADDR", **IFNAME, "addr": "10.0.0.2", "plen": 33}, "plen"),
    ("ioctl", {"req": "SIOCAIFADDR", "addr": "10.0.0.2", "plen": 24}, "ifname"),
    ("ioctl", {"req": "SIOCAIFADDR_IN6", **IFNAME, "addr": "2001:db8::1", "eui64": 1},
     "eui64"),
    ("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.1.0.0", "plen": -8,
               "gateway": "10.0.0.1"}, "plen"),
    ("rtmsg", {"type": "RTM_ADD", "af": "inet6x", "dst": "10.1.0.0"}, "af"),
    ("rtmsg", {"type": "RTM_GET", "af": "inet", "dst": 167772160}, "dst"),
    ("llmsg", {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.9", "mac": 5}, "mac"),
    ("sysctl", {"name": "NET_RT_DUMP", "form": "tree"}, "form"),
    ("audit", {"n": -1}, "n"),
]


@pytest.mark.parametrize("op,args,name", BAD, ids=[f"{o}-{n}-{i}" for i, (o, a, n)
                                                   in enumerate(BAD)])
def test_refused_at_the_boundary(client, op, args, name):
    before = client.sysctl("NET_RT_IFLIST"), client.sysctl("NET_RT_DUMP")
    with pytest.raises(OpError) as exc:
        client.call(op, args)
    assert exc.value.errno == EINVAL and f"'{name}'" in exc.value.msg
    # the same op inside a batch: refused there too, the batch names it
    if op not in ("ping", "audit"):
        with pytest.raises(OpError) as exc:
            client.batch([["sysctl", {"name": "kern.hostname", "value": "x"}], [op, args]])
        assert (exc.value.errno, exc.value.index) == (EINVAL, 1)
    # and the stack keeps answering, unchanged
    assert client.call("hello", {"version": protocol.VERSION})["pid"] > 0
    assert (client.sysctl("NET_RT_IFLIST"), client.sysctl("NET_RT_DUMP")) == before


def test_ping_nan_interval_over_a_raw_socket(stack):
    """The bytes of a float NaN, as any msgpack client may send them."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(stack.path)
    body = msgpack.packb({"id": 5, "op": "ping", "args": {"dst": "127.0.0.1", "count": 1,
                                                           "interval": float("nan")}})
    s.sendall(protocol.HEADER.pack(len(body)) + body)
    buf = bytearray()
    while True:
        buf += s.recv(65536)
        frames = protocol.split_frames(buf)
        if frames:
            break
    reply = protocol.decode(frames[0])
    assert (reply["id"], reply["errno"]) == (5, EINVAL)
    assert "interval" in reply["msg"]
    s.close()
    with stack.client() as c:
        assert c.call("hello", {"version": protocol.VERSION})["pid"] == stack.pid
        done = c.call("ping", {"dst": "127.0.0.1", "count": 1, "interval": 0.01})
        assert done[-1]["transmitted"] == 1


def test_good_values_pass(client):
    client.call("ioctl", {"req": "SIOCAIFADDR", "ifname": "vnet0", "addr": "10.0.0.2",
                          "plen": 24, "broadcast": None})
    client.call("ioctl", {"req": "SIOCSIFMTU", "ifname": "vnet0", "mtu": 9000})
    client.call("rtmsg", {"type": "RTM_ADD", "af": "inet", "dst": "10.1.0.0", "plen": None,
                          "gateway": "10.0.0.1"})
    assert client.rtmsg("RTM_GET", af="inet", dst="10.1.0.0")["dst"] == "10.1.0.0"
    assert client.sysctl("NET_RT_FLAGS", af="inet", ifname=None) is not None


def test_every_handler_has_a_schema():
    """The declarations cover the vocabulary: each op, ioctl request and message type a
    handler answers is declared (and nothing is declared that no handler answers)."""
    from plebnet_core.state.stack import Stack
    from plebnet_core.syscalls import Syscalls
    sc = Syscalls(Stack(), 1)
    assert set(sc.ops) <= set(SCHEMAS)
    assert set(SUBSCHEMAS["ioctl"][1]) == set(sc.ioctls)
    assert set(SUBSCHEMAS["rtmsg"][1]) == set(sc.rtmsgs)
    assert set(SUBSCHEMAS["llmsg"][1]) == set(sc.llmsgs)
    assert {"ping", "pcap", "audit"} <= set(SCHEMAS)


def test_data_plane_ops_have_schemas():
    """The ops the data plane registers (ping, pcap, dhclient, lagg) are declared too."""
    from plebnet_core.dataplane.plane import DataPlane
    from plebnet_core.loop import EventLoop
    from plebnet_core.state.stack import Stack
    from plebnet_core.syscalls import Syscalls
    stack = Stack()
    sc = Syscalls(stack, 1)
    loop = EventLoop()
    plane = DataPlane(stack, loop, 1, sc)
    try:
        assert set(sc.ops) <= set(SCHEMAS)
        assert {"dhclient", "lagg"} <= set(sc.ops)
    finally:
        plane.close()
        loop.close()


def test_check_unit():
    check("ioctl", {"req": "SIOCSIFMTU", "ifname": "vnet0", "mtu": 1500, "extra": [1]})
    check("ioctl", {"req": "SIOCNOSUCH"})       # the handler names an unknown request
    check("nosuchop", {"x": math.nan})          # no schema: the dispatcher refuses the op
    with pytest.raises(OpError) as exc:
        check("ioctl", {"req": "SIOCSIFMTU", "ifname": "vnet0"})
    assert exc.value.msg == "missing argument 'mtu'"
    with pytest.raises(OpError) as exc:
        check("ioctl", {"req": ["SIOCSIFMTU"]})
    assert exc.value.msg == "argument 'req' must be str"
