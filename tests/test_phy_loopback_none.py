from plebnet_core.dataplane.phy import LINKTYPE_NULL, LoopbackDevice, NullDevice
from plebnet_core.loop import EventLoop


def test_loopback_delivers_through_the_loop_not_reentrantly():
    loop = EventLoop()
    lo = LoopbackDevice()
    got = []
    depth = [0]

    def readable():
        depth[0] += 1
        assert depth[0] == 1  # send() below must queue, not call back into us
        while (pkt := lo.recv()) is not None:
            got.append(pkt)
            if pkt == b"ping":
                lo.send(b"pong")
        depth[0] -= 1

    lo.attach(loop, readable)
    assert lo.fileno() is None and lo.name == "lo0" and lo.kind == "loopback"
    assert lo.linktype == LINKTYPE_NULL
    lo.send(b"ping")
    assert got == []  # nothing happens until the loop runs
    loop.run_once(0)
    assert got == [b"ping", b"pong"]
    s = lo.stats
    assert (s.opackets, s.ipackets, s.obytes, s.ibytes) == (2, 2, 8, 8)


def test_loopback_level_triggered():
    loop = EventLoop()
    lo = LoopbackDevice()
    got = []
    lo.attach(loop, lambda: got.append(lo.recv()))  # takes only one frame per call
    for i in range(3):
        lo.send(bytes([i]))
    for _ in range(3):
        loop.run_once(0)
    assert got == [b"\0", b"\1", b"\2"]


def test_loopback_queue_limit_and_inject():
    lo = LoopbackDevice(qlen=2)
    for _ in range(3):
        lo.send(b"x")
    assert lo.stats.oqdrops == 1
    lo.inject(b"y")
    assert lo.stats.iqdrops == 1
    assert [lo.recv(), lo.recv(), lo.recv()] == [b"x", b"x", None]
    lo.inject(memoryview(b"from outside"))
    assert lo.recv() == b"from outside"


def test_loopback_attach_after_send_and_detach():
    loop = EventLoop()
    lo = LoopbackDevice()
    lo.send(b"early")
    got = []
    lo.attach(loop, lambda: got.append(lo.recv()))
    loop.run_once(0)
    assert got == [b"early"]
    lo.detach()
    lo.send(b"late")
    loop.run_once(0)
    assert got == [b"early"] and lo.recv() == b"late"
    lo.close()
    lo.send(b"gone")
    assert lo.recv() is None


def test_null_device():
    loop = EventLoop()
    with NullDevice("vnet9") as dev:
        dev.attach(loop, lambda: None)
        assert dev.fileno() is None and dev.kind == "none" and dev.recv() is None
        dev.send(b"\0" * 60)
        dev.send(b"\0" * 60)
        assert dev.dropped == 2 and dev.stats.opackets == 0
