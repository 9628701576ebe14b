"""The stack's DHCPv4 client: the codec (wire/dhcp.py) alone, then against a real server
(Debian's dnsmasq) inside a network namespace over TAP: lease, renew at a short T1, the
address and default route in ifconfig/netstat, rc save, release at exit, SYNCDHCP at boot."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import run_tool
from netns_util import namespace, require_root
from plebnet_core.dataplane.wire import WireError
from plebnet_core.dataplane.wire import dhcp as wire
from plebnet_core.spawn import spawn_stack

MAC = bytes.fromhex("02aabbccddee")


# ------------------------------------------------------------------------------ the codec
def test_codec_round_trip_keeps_header_and_options_in_order():
    msg = wire.emit(wire.BOOTREQUEST, 0x12345678, MAC,
                    [(wire.OPT_MSG_TYPE, bytes((wire.DISCOVER,))),
                     (wire.OPT_REQUESTED_IP, bytes((10, 0, 0, 9))),
                     (wire.OPT_HOSTNAME, b"h" * 300)],      # > 255: split, joined again
                    flags=wire.FLAG_BROADCAST, secs=3)
    m = wire.parse(msg)
    assert (m.op, m.xid, m.flags, m.secs, m.chaddr) == (wire.BOOTREQUEST, 0x12345678,
                                                        wire.FLAG_BROADCAST, 3, MAC)
    assert m.msg_type == wire.DISCOVER
    assert m.addr_option(wire.OPT_REQUESTED_IP) == bytes((10, 0, 0, 9))
    assert m.options[wire.OPT_HOSTNAME] == b"h" * 300
    assert list(m.options) == [wire.OPT_MSG_TYPE, wire.OPT_REQUESTED_IP, wire.OPT_HOSTNAME]
    assert len(msg) >= 300          # BOOTP's minimum size


@pytest.mark.parametrize("cut", [0, 100, wire.HEADER_LEN, wire.MIN_LEN - 1])
def test_codec_refuses_short_messages(cut):
    msg = wire.emit(wire.BOOTREPLY, 1, MAC, [(wire.OPT_MSG_TYPE, b"\x02")])
    with pytest.raises(WireError):
        wire.parse(msg[:cut])


def test_codec_refuses_bad_cookie_and_overrunning_option():
    msg = bytearray(wire.emit(wire.BOOTREPLY, 1, MAC, [(wire.OPT_MSG_TYPE, b"\x02")]))
    bad = bytes(msg[:wire.HEADER_LEN]) + b"\x00\x00\x00\x00" + bytes(msg[wire.MIN_LEN:])
    with pytest.raises(WireError, match="cookie"):
        wire.parse(bad)
    overrun = bytes(msg[:wire.MIN_LEN]) + bytes((wire.OPT_ROUTERS, 8, 10, 0))
    with pytest.raises(WireError, match="past the end"):
        wire.parse(overrun)


def test_u32_and_address_list_options():
    m = wire.parse(wire.emit(wire.BOOTREPLY, 1, MAC, [
        (wire.OPT_LEASE_TIME, (7200).to_bytes(4, "big")),
        (wire.OPT_ROUTERS, bytes((10, 0, 0, 1, 10, 0, 0, 2))),
        (wire.OPT_SUBNET_MASK, b"\xff\xff")]))                 # malformed: not an address
    assert m.u32_option(wire.OPT_LEASE_TIME) == 7200
    assert m.addrs_option(wire.OPT_ROUTERS) == [bytes((10, 0, 0, 1)), bytes((10, 0, 0, 2))]
    assert m.addr_option(wire.OPT_SUBNET_MASK) is None
    assert m.msg_type is None


def test_rc_plan_dhclient_step_compiles_to_the_op():
    from plebconf.rc.command import ToolError, command_ops
    assert command_ops(["dhclient", "-b", "vnet0"]).ops == [
        ["dhclient", {"ifname": "vnet0", "sync": False}]]
    assert command_ops(["dhclient", "vnet0"]).ops == [
        ["dhclient", {"ifname": "vnet0", "sync": True}]]
    with pytest.raises(ToolError, match="usage: dhclient"):
        command_ops(["dhclient", "-x", "vnet0"])


def test_dhclient_on_an_interface_without_wire_just_waits(sockdir, tmp_path):
    """No wire: the client runs (INIT) and nothing else changes; rc save says DHCP."""
    rc = tmp_path / "rc.conf"
    rc.write_text('ifconfig_vnet0="DHCP mtu 1400"\n')
    stack = spawn_stack(["--nic", "vnet0=none", "--rc", str(rc)], sockdir=sockdir)
    try:
        with stack.client() as c:
            info = next(i for i in c.call("sysctl", {"name": "NET_RT_IFLIST"})
                        if i["name"] == "vnet0")
        assert info["dhcp"]["state"] == "INIT" and info["dhcp"]["sync"] is False
        assert [a for a in info["addrs"] if a["af"] == "inet"] == []
        saved = run_tool(stack, "rc", "save").stdout
        assert 'ifconfig_vnet0="DHCP mtu 1400"' in saved.splitlines()
        assert run_tool(stack, "rc", "diff", str(rc)).returncode == 0
    finally:
        stack.stop()


# ------------------------------------------------------------------- a real DHCP server
def _need_dnsmasq():
    require_root()
    if shutil.which("dnsmasq") is None:
        reason = "needs dnsmasq (Debian dnsmasq-base; make test-deps installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI is set")
        pytest.skip(reason)


def _dnsmasq(ns, kname, tmp_path, net="10.243.0"):
    """dnsmasq serving NET.50-60/24 on kname inside ns: lease 2 min (its minimum), T1 3 s
    and T2 6 s so that a renewal comes within the test, router NET.1.  It waits for kname
    to appear (bind-dynamic), so it may start before the stack makes the TAP."""
    log = tmp_path / "dnsmasq.log"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
         "--no-resolv", "--port=0", f"--interface={kname}", "--bind-dynamic",
         f"--dhcp-range={net}.50,{net}.60,255.255.255.0,2m", f"--dhcp-option=3,{net}.1",
         "--dhcp-option=option:T1,3", "--dhcp-option=option:T2,6",
         f"--dhcp-leasefile={tmp_path}/leases", f"--pid-file={tmp_path}/dnsmasq.pid",
         "--log-dhcp", f"--log-facility={log}", "--user=root", "--group=root"],
        stderr=subprocess.PIPE, text=True)
    return proc, log


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _dhcp_info(stack):
    with stack.client() as c:
        return next(i for i in c.call("sysctl", {"name": "NET_RT_IFLIST"})
                    if i["name"] == "vnet0")["dhcp"]


def _wait_for(what, check, limit=30.0):
    """Poll until check() is true (bounded: a hung client fails, it does not hang)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"no {what} within {limit} s")


def _log_lines(log, word):
    return [line for line in log.read_text().splitlines() if word in line] \
        if log.exists() else []


def test_lease_renew_route_save_and_release_with_dnsmasq(sockdir, tmp_path):
    _need_dnsmasq()
    with namespace("dh") as ns:
        stack = spawn_stack(["--nic", f"vnet0=tap:kdh0,netns={ns},addr=10.243.0.1/24"],
                            sockdir=sockdir)
        server, log = _dnsmasq(ns, "kdh0", tmp_path)
        try:
            rc = tmp_path / "rc.conf"
            rc.write_text('ifconfig_vnet0="DHCP"\n')
            applied = run_tool(stack, "rc", "apply", str(rc))
            assert (applied.returncode, applied.stderr) == (0, "")
            info = _wait_for("lease", lambda: (lambda i: i if i["state"] == "BOUND"
                                               else None)(_dhcp_info(stack)))
            addr = info["addr"]
            assert addr.startswith("10.243.0.") and 50 <= int(addr.split(".")[3]) <= 60
            assert (info["plen"], info["router"], info["server"]) == (24, "10.243.0.1",
                                                                      "10.243.0.1")
            shown = run_tool(stack, "ifconfig", "vnet0").stdout
            assert f"\tinet {addr} netmask 0xffffff00 broadcast 10.243.0.255" in shown
            routes = run_tool(stack, "netstat", "-rn", "-f", "inet").stdout.splitlines()
            assert any(line.split()[:4] == ["default", "10.243.0.1", "UGS", "vnet0"]
                       for line in routes)
            # the lease is the server's: rc save says DHCP, neither address nor router
            saved = run_tool(stack, "rc", "save").stdout
            assert 'ifconfig_vnet0="DHCP"' in saved and addr not in saved
            assert "defaultrouter" not in saved
            assert run_tool(stack, "rc", "diff", str(rc)).returncode == 0
            # T1 is 3 s: the client renews by unicast and the server ACKs again
            first = info["expires"]
            _wait_for("renewal", lambda: _dhcp_info(stack)["expires"] > first)
            assert len(_log_lines(log, f"DHCPACK(kdh0) {addr}")) >= 2
            # the host answers the stack from its leased address
            ping = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W",
                                   "5", addr], capture_output=True, text=True)
            assert ping.returncode == 0, ping.stdout
        finally:
            stack.stop()
            _stop(server)           # dnsmasq's log is complete once it has exited
        # at exit the lease went back (dhclient -r)
        assert _log_lines(log, f"DHCPRELEASE(kdh0) {addr}"), stack.stderr()


def test_syncdhcp_at_boot_waits_for_the_lease(sockdir, tmp_path):
    _need_dnsmasq()
    with namespace("ds") as ns:
        server, log = _dnsmasq(ns, "kds0", tmp_path, net="10.244.0")
        rc = tmp_path / "rc.conf"
        # the routing section comes after the lease: a route through the leased subnet
        rc.write_text('ifconfig_DEFAULT="SYNCDHCP"\nstatic_routes="lan"\n'
                      'route_lan="-net 10.99.0.0/16 10.244.0.254"\n')
        try:
            stack = spawn_stack(["--nic", f"vnet0=tap:kds0,netns={ns},addr=10.244.0.1/24",
                                 "--rc", str(rc)], sockdir=sockdir, timeout=90)
            try:
                # no waiting here: the ready line came after the lease
                info = _dhcp_info(stack)
                assert info["state"] == "BOUND" and info["sync"] is True
                shown = run_tool(stack, "ifconfig", "vnet0").stdout
                assert f"\tinet {info['addr']} netmask 0xffffff00" in shown
                routes = run_tool(stack, "netstat", "-rn", "-f", "inet").stdout.splitlines()
                assert any(line.split()[:4] == ["10.99.0.0/16", "10.244.0.254", "UGS",
                                                "vnet0"] for line in routes), routes
                assert 'ifconfig_vnet0="SYNCDHCP"' in run_tool(stack, "rc", "save").stdout
            finally:
                stack.stop()
        finally:
            _stop(server)


def test_rc_apply_syncdhcp_waits_for_the_lease_before_the_routing_section(sockdir, tmp_path):
    """rc.d/dhclient runs dhclient in the foreground for SYNCDHCP: the routing section comes
    after the lease, so a static route through a router on the leased subnet applies (sent
    with the rest, it would be refused: Network is unreachable)."""
    _need_dnsmasq()
    with namespace("da") as ns:
        stack = spawn_stack(["--nic", f"vnet0=tap:kda0,netns={ns},addr=10.245.0.1/24"],
                            sockdir=sockdir)
        server, _ = _dnsmasq(ns, "kda0", tmp_path, net="10.245.0")
        try:
            rc = tmp_path / "rc.conf"
            rc.write_text('ifconfig_vnet0="SYNCDHCP"\nstatic_routes="lan"\n'
                          'route_lan="-net 10.99.0.0/16 10.245.0.254"\n')
            applied = run_tool(stack, "rc", "apply", str(rc))
            assert (applied.returncode, applied.stderr) == (0, "")
            # no waiting here: apply returned after the lease
            info = _dhcp_info(stack)
            assert info["state"] == "BOUND" and info["sync"] is True
            routes = run_tool(stack, "netstat", "-rn", "-f", "inet").stdout.splitlines()
            assert any(line.split()[:4] == ["10.99.0.0/16", "10.245.0.254", "UGS", "vnet0"]
                       for line in routes), routes
            assert run_tool(stack, "rc", "diff", str(rc)).returncode == 0
        finally:
            stack.stop()
            _stop(server)


def test_rc_apply_syncdhcp_without_a_server_says_so_and_goes_on(sockdir, tmp_path):
    """No lease within dhclient's timeout: its words, then the rest of the file applies (the
    client goes on in the background, as dhclient does)."""
    rc = tmp_path / "rc.conf"
    rc.write_text('ifconfig_vnet0="SYNCDHCP"\nstatic_routes="x"\n'
                  'route_x="-net 10.98.0.0/16 -iface vnet0"\nhostname="after"\n')
    with spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir) as stack:
        r = run_tool(stack, "rc", "apply", str(rc), env={"PLEBNET_DHCP_TIMEOUT": "2"})
        assert (r.returncode, r.stdout) == (0, "")
        assert r.stderr.splitlines() == ["No DHCPOFFERS received.",
                                         "No working leases in persistent database - sleeping."]
        assert _dhcp_info(stack)["state"] in ("INIT", "SELECTING")
        routes = run_tool(stack, "netstat", "-rn", "-f", "inet").stdout
        assert "10.98.0.0/16" in routes
        with stack.client() as c:
            assert c.call("sysctl", {"name": "kern.hostname"}) == "after"


def test_rc_apply_dhcp_in_the_background_does_not_wait(sockdir, tmp_path):
    """DHCP (devd starts dhclient; rc does not wait): apply returns with the client still
    looking for a server, and says nothing of a lease."""
    rc = tmp_path / "rc.conf"
    rc.write_text('ifconfig_vnet0="DHCP"\nhostname="after"\n')
    with spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir) as stack:
        r = run_tool(stack, "rc", "apply", str(rc), env={"PLEBNET_DHCP_TIMEOUT": "2"})
        assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
        info = _dhcp_info(stack)
        assert info["state"] in ("INIT", "SELECTING") and info["sync"] is False
        with stack.client() as c:
            assert c.call("sysctl", {"name": "kern.hostname"}) == "after"
