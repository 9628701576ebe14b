"""vxlan create is configuration, not I/O (sys/net/if_vxlan.c): the clone records its
parameters whatever addresses the host has; the UDP socket opens in vxlan_init, when the
interface is brought up, and a failure then is the kernel's log lines, the interface up and
not RUNNING, the ioctl itself successful.  Traffic only ever to 127.0.0.1: a socket bound to an
address that is not the host's just fails to bind."""
from __future__ import annotations

import socket

from plebnet_core.state.stack import stable_mac
from tests.conftest import TEST_HOSTUUID, run_tool


def ifconfig(stack, *argv):
    done = run_tool(stack, "ifconfig", *argv)
    return done.returncode, done.stdout, done.stderr


def flags_line(stack, name):
    return ifconfig(stack, name)[1].splitlines()[0]


def test_the_vxlan4_example_creates_whatever_the_hosts_addresses(stack):
    # vxlan(4)'s EXAMPLES: "ifconfig vxlan create vxlanid 108 vxlanlocal 192.168.100.1
    # vxlanremote 192.168.100.2"; vxlan_clone_create only copies the parameters in
    assert ifconfig(stack, "vxlan", "create", "vxlanid", "108", "vxlanlocal", "192.168.100.1",
                    "vxlanremote", "192.168.100.2") == (0, "vxlan0\n", "")
    assert "\tvxlan vni 108 local 192.168.100.1:4789 remote 192.168.100.2:4789\n" in \
        ifconfig(stack, "vxlan0")[1]


def test_up_with_an_address_not_the_hosts_logs_and_stays_not_running(stack):
    # 192.0.2.1 (TEST-NET-1) is assigned to no host: bind fails with EADDRNOTAVAIL (49)
    assert ifconfig(stack, "vxlan", "create", "vxlanid", "108", "vxlanlocal", "192.0.2.1",
                    "vxlanremote", "127.0.0.1") == (0, "vxlan0\n", "")
    # vxlan_ioctl SIOCSIFFLAGS -> vxlan_init; its failure is no error of the ioctl
    assert ifconfig(stack, "vxlan0", "up") == (0, "", "")
    # up, not RUNNING, the link state never set (no LOWER_UP); vxlan_media_status says
    # "IFM_ACTIVE | IFM_AVALID" all the same
    mac = stable_mac(TEST_HOSTUUID, "vxlan0").hex(":")
    assert ifconfig(stack, "vxlan0") == (0, (
        "vxlan0: flags=8803<UP,BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1450\n"
        "\toptions=80000<LINKSTATE>\n"
        f"\tether {mac}\n"
        "\tgroups: vxlan\n"
        "\tvxlan vni 108 local 192.0.2.1:4789 remote 127.0.0.1:4789\n"
        "\tmedia: Ethernet autoselect (autoselect <full-duplex>)\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n"), "")
    # vxlan_socket_bind's and vxlan_setup_socket's if_printf, on the stack's console
    assert ("vxlan0: cannot bind socket: 49\n"
            "vxlan0: cannot create socket (error: 49), and no existing socket found\n"
            ) in stack.stderr()


def test_up_opens_down_closes_up_reopens(stack):
    ports = []
    for _ in range(2):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            ports.append(str(s.getsockname()[1]))
    local, remote = ports
    assert ifconfig(stack, "vxlan", "create", "vxlanid", "5", "vxlanlocal", "127.0.0.1",
                    "vxlanlocalport", local, "vxlanremote", "127.0.0.1", "vxlanremoteport",
                    remote) == (0, "vxlan0\n", "")

    def port_taken() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", int(local)))
            except OSError:
                return True
            return False

    assert not port_taken()                     # create opened nothing
    assert flags_line(stack, "vxlan0").startswith(
        "vxlan0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> ")     # link state unknown
    assert ifconfig(stack, "vxlan0", "up") == (0, "", "")
    # vxlan_init: IFF_DRV_RUNNING, then if_link_state_change(ifp, LINK_STATE_UP)
    assert port_taken() and flags_line(stack, "vxlan0").startswith(
        "vxlan0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> ")
    assert ifconfig(stack, "vxlan0", "down") == (0, "", "")
    # vxlan_teardown_locked: not RUNNING, if_link_state_change(ifp, LINK_STATE_DOWN)
    assert not port_taken() and flags_line(stack, "vxlan0").startswith(
        "vxlan0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> ")
    # an address added runs if_init too (ether_ioctl SIOCSIFADDR marks it up)
    assert ifconfig(stack, "vxlan0", "inet", "10.9.0.1/24") == (0, "", "")
    assert port_taken() and "RUNNING" in flags_line(stack, "vxlan0")
    assert "cannot" not in stack.stderr()


def _free_ports(n):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _taken(port) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def test_parameters_changed_while_down_are_used_at_the_next_up(stack):
    first, second, remote = _free_ports(3)
    assert ifconfig(stack, "vxlan", "create", "vxlanid", "5", "vxlanlocal", "127.0.0.1",
                    "vxlanlocalport", str(first), "vxlanremote", "127.0.0.1",
                    "vxlanremoteport", str(remote), "up") == (0, "vxlan0\n", "")
    assert _taken(first)
    # vxlan_ctrl_set_local_port: "if (vxlan_can_change_config(sc)) ... else error = EBUSY",
    # and ifvxlan.c: "err(1, "VXLAN_CMD_SET_LOCAL_PORT")"
    assert ifconfig(stack, "vxlan0", "vxlanlocalport", str(second)) == (
        1, "", "ifconfig: VXLAN_CMD_SET_LOCAL_PORT: Device busy\n")
    assert ifconfig(stack, "vxlan0", "down") == (0, "", "")
    assert ifconfig(stack, "vxlan0", "vxlanlocalport", str(second), "vxlanid", "6") == (
        0, "", "")
    assert f"\tvxlan vni 6 local 127.0.0.1:{second} remote 127.0.0.1:{remote}\n" in \
        ifconfig(stack, "vxlan0")[1]
    assert ifconfig(stack, "vxlan0", "up") == (0, "", "")
    assert _taken(second) and not _taken(first)
