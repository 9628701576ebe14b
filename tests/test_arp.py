"""arp(8) against a live stack: FreeBSD 14 lines, messages and exit statuses (docs/freebsd-tools.md §3)."""
import json
import re

import pytest

from plebconf.cli.arp import USAGE, entry_fields, entry_line, failure, ops_for
from plebconf.cli.common import ToolError, ToolOps
from plebproto.constants import (
    ENETUNREACH, ENOENT, ESRCH, RTF_ANNOUNCE, RTF_BLACKHOLE, RTF_REJECT, RTF_STATIC,
)
from plebproto.errors import OpError
from tests.conftest import fresh_syscalls
from tests.tooltest import VNET0_MAC, add_addr, ok, tool

OWN = f"? (10.0.0.2) at {VNET0_MAC} on vnet0 permanent [ethernet]\n"
USAGE_ERR = USAGE + "\n"


@pytest.fixture
def net(stack, client):
    add_addr(client, "vnet0", "10.0.0.2", 24)
    return stack


@pytest.mark.parametrize("wrapper", [False, True])
def test_arp_an_static_published_temp(net, client, wrapper):
    client.sysctl("net.link.ether.inet.max_age", value=600)     # temp entries: 600 s
    assert ok(net, "arp", "-s", "10.0.0.5", "02:00:00:00:00:05") == ""
    assert ok(net, "arp", "-s", "10.0.0.6", "2:0:0:0:0:6", "pub") == ""
    assert ok(net, "arp", "-s", "10.0.0.7", "02:00:00:00:00:07", "temp") == ""
    assert ok(net, "arp", "-s", "10.0.0.8", "02:00:00:00:00:08", "blackhole", "pub", "only") == ""
    out = ok(net, "arp", "-an", wrapper=wrapper)
    # in the kernel's walk order (FreeBSD 14 in.c IN_LLTBL_HASH: buckets by the XOR of the
    # address's bytes, & 31): .8 in bucket 2, .2 in 8, .6 in 12, .7 in 13, .5 in 15
    assert re.fullmatch(re.escape(
        "? (10.0.0.8) at 02:00:00:00:00:08 on vnet0 permanent published [ethernet]\n" +
        OWN +
        "? (10.0.0.6) at 02:00:00:00:00:06 on vnet0 permanent published [ethernet]\n"
        "? (10.0.0.7) at 02:00:00:00:00:07 on vnet0 expires in ") + r"(600|599)" + re.escape(
        " seconds [ethernet]\n"
        "? (10.0.0.5) at 02:00:00:00:00:05 on vnet0 permanent [ethernet]\n"), out)
    flags = {e["addr"]: e["flags"] for e in client.sysctl("NET_RT_FLAGS", af="inet")}
    assert flags["10.0.0.8"] & (RTF_BLACKHOLE | RTF_ANNOUNCE) == RTF_BLACKHOLE | RTF_ANNOUNCE


def test_arp_an_walks_buckets_newest_first_and_a_rollback_keeps_it(net, client):
    """FreeBSD 14's order (the netlink neighbour dump walks each table bucket by bucket,
    in.c IN_LLTBL_HASH: the XOR of the address's bytes & 31; a new entry is linked at
    the head of its bucket): .5 and .37 share bucket 15, so the newer comes first, and
    replacing .5 (arp -s again: a new entry) makes it the newer.  A failed batch that
    deleted .37 (all or nothing) leaves the listing exactly as it was."""
    def entry(host: int, mac: int) -> str:
        return f"? (10.0.0.{host}) at 02:00:00:00:00:{mac:02x} on vnet0 permanent [ethernet]\n"
    for host in (5, 37, 8):         # buckets 15, 15, 2
        ok(net, "arp", "-s", f"10.0.0.{host}", f"02:00:00:00:00:{host:02x}")
    assert ok(net, "arp", "-an") == entry(8, 8) + OWN + entry(37, 37) + entry(5, 5)
    ok(net, "arp", "-s", "10.0.0.5", "02:00:00:00:00:55")
    listing = entry(8, 8) + OWN + entry(5, 0x55) + entry(37, 37)
    assert ok(net, "arp", "-an") == listing
    with pytest.raises(OpError):
        client.batch([*ops_for(["-d", "10.0.0.37"]).ops,
                      ["llmsg", {"type": "RTM_DELETE", "af": "inet", "addr": "10.0.0.99"}]])
    assert ok(net, "arp", "-an") == listing


def test_arp_temp_entry_expires_in_max_age(net):
    """The default net.link.ether.inet.max_age (1200 s), read at once: 1200 (1199 when the
    second turned meanwhile)."""
    ok(net, "arp", "-s", "10.0.0.7", "02:00:00:00:00:07", "temp")
    assert re.search(r"\? \(10\.0\.0\.7\) at 02:00:00:00:00:07 on vnet0 expires in "
                     r"(1200|1199) seconds \[ethernet\]\n", ok(net, "arp", "-an"))


def test_incomplete_and_expired_lines():
    """Incomplete entries come from the data plane's resolution (not creatable through the
    RPC yet): the line is checked from the entry the dump would carry."""
    kinds = {"vnet0": "vnet"}
    assert entry_line(entry_fields({"addr": "10.0.0.99", "mac": None, "ifname": "vnet0",
                                    "flags": 0, "expire": 12.5}, kinds)) == (
        "? (10.0.0.99) at (incomplete) on vnet0 expires in 13 seconds [ethernet]\n")
    assert entry_line(entry_fields({"addr": "10.0.0.99", "mac": None, "ifname": "vnet0",
                                    "flags": 0, "expire": -1}, kinds)) == (
        "? (10.0.0.99) at (incomplete) on vnet0 expired [ethernet]\n")
    assert entry_line(entry_fields({"addr": "10.0.0.9", "mac": "02:00:00:00:00:09",
                                    "ifname": "tun0", "flags": RTF_STATIC, "expire": None},
                                   {"tun0": "tun"})) == (
        "? (10.0.0.9) at 02:00:00:00:00:09 on tun0 permanent\n")


def test_arp_host_and_no_entry(net):
    ok(net, "arp", "-s", "10.0.0.5", "02:00:00:00:00:05")
    assert ok(net, "arp", "10.0.0.5") == (
        "? (10.0.0.5) at 02:00:00:00:00:05 on vnet0 permanent [ethernet]\n")
    assert tool(net, "arp", "10.0.0.55") == (1, "10.0.0.55 (10.0.0.55) -- no entry\n", "")
    assert tool(net, "arp", "-i", "vnet0", "10.0.0.55", wrapper=True) == (
        1, "10.0.0.55 (10.0.0.55) -- no entry on vnet0\n", "")
    assert tool(net, "arp", "no.such.host.invalid") == (
        1, "", "arp: no.such.host.invalid: Unknown host\n")


def test_arp_delete_messages(net, client):
    ok(net, "arp", "-s", "10.0.0.5", "02:00:00:00:00:05")
    assert tool(net, "arp", "-d", "10.0.0.5") == (0, "10.0.0.5 (10.0.0.5) deleted\n", "")
    # gone: the stack's ENOENT (docs/freebsd-tools.md §8.6)
    assert tool(net, "arp", "-d", "10.0.0.5") == (
        1, "", "arp: delete 10.0.0.5: No such file or directory\n")
    # not on a connected network: 14.x's message, and status 0
    assert tool(net, "arp", "-d", "10.9.9.9", wrapper=True) == (
        0, "", "arp: delete: cannot locate 10.9.9.9\n")
    # the interface's own address is pinned
    assert tool(net, "arp", "-d", "10.0.0.2") == (
        1, "", "arp: delete 10.0.0.2: Operation not permitted\n")


def test_arp_set_errors_change_nothing(net, client):
    before = client.sysctl("NET_RT_FLAGS", af="inet")
    assert tool(net, "arp", "-s", "10.9.9.9", "02:00:00:00:00:07") == (
        0, "", "arp: delete: cannot locate 10.9.9.9\n")
    assert tool(net, "arp", "-s", "10.0.0.8", "02:00:00:00:00:08", "blackhole", "reject") == (
        1, "", "arp: Choose one of blackhole or reject, not both.\n")
    assert tool(net, "arp", "-s", "10.0.0.8", "zz") == (
        1, "", "arp: invalid Ethernet address 'zz'\n")
    assert tool(net, "arp", "-s", "10.0.0.8", "02:00:00:00:00:08", "bogus") == (
        1, "", "arp: Invalid parameter 'bogus'\n" + USAGE_ERR)
    assert tool(net, "arp", "-s", "10.0.0.8") == (1, "", USAGE_ERR)
    assert tool(net, "arp", "-s", "10.0.0.8", "x", "-d", "y") == (
        1, "", "arp: Invalid parameter '-d'\n" + USAGE_ERR)
    assert tool(net, "arp", "-d", "-s", "10.0.0.8", "02:00:00:00:00:08") == (1, "", USAGE_ERR)
    assert tool(net, "arp", "-i", "vnet0", "-s", "10.0.0.8", "02:00:00:00:00:08") == (
        1, "", "arp: -i not applicable to this operation\n")
    assert tool(net, "arp", "-i", "vnet9", "-a") == (
        1, "", "arp: interface vnet9 does not exist\n")
    assert tool(net, "arp", "-s", "10.0.0.2", "02:00:00:00:00:08") == (
        1, "", "arp: set 10.0.0.2: File exists\n")
    assert client.sysctl("NET_RT_FLAGS", af="inet") == before


def test_arp_replace_and_delete_all(net):
    assert tool(net, "arp", "-S", "10.0.0.6", "02:00:00:00:00:06") == (
        0, "", "arp: delete 10.0.0.6: No such file or directory\n")
    assert tool(net, "arp", "-S", "10.0.0.6", "02:00:00:00:00:66", "pub") == (
        0, "10.0.0.6 (10.0.0.6) deleted\n", "")
    ok(net, "arp", "-s", "10.0.0.7", "02:00:00:00:00:07", "temp")
    assert ok(net, "arp", "-an").splitlines(keepends=True)[:2] == [
        OWN, "? (10.0.0.6) at 02:00:00:00:00:66 on vnet0 permanent published [ethernet]\n"]
    assert ok(net, "arp", "-d", "-a") == (
        "10.0.0.6 (10.0.0.6) deleted\n10.0.0.7 (10.0.0.7) deleted\n")
    assert ok(net, "arp", "-an") == OWN


def test_arp_f_reports_bad_lines_and_applies_good_ones(net, tmp_path):
    ethers = tmp_path / "ethers"
    ethers.write_text("# static entries\n"
                      "10.0.0.20 02:00:00:00:00:20\n"
                      "junk\n"
                      "10.0.0.21 02:00:00:00:00:21 pub   # proxy\n"
                      "\n"
                      "10.0.0.22 zz\n"
                      "   \n"
                      "10.0.0.23 02:00:00:00:00:23 temp\n")
    rc, out, err = tool(net, "arp", "-f", str(ethers))
    # bad line: FreeBSD prints the line with its newline, then warnx's own newline
    assert (rc, out, err) == (1, "", "arp: bad line: junk\n\n"
                                     "arp: invalid Ethernet address 'zz'\n")
    lines = ok(net, "arp", "-an").splitlines()     # (walk order: buckets 8, 29, 30, 31)
    assert lines[0] == OWN.rstrip("\n")
    assert lines[1].startswith("? (10.0.0.23) at 02:00:00:00:00:23 on vnet0 expires in ")
    assert lines[2:] == ["? (10.0.0.20) at 02:00:00:00:00:20 on vnet0 permanent [ethernet]",
                         "? (10.0.0.21) at 02:00:00:00:00:21 on vnet0 permanent published "
                         "[ethernet]"]
    assert tool(net, "arp", "-f", str(tmp_path / "missing")) == (
        1, "", f"arp: cannot open {tmp_path / 'missing'}: No such file or directory\n")


def test_arp_f_through_the_wrapper(net, tmp_path):
    ethers = tmp_path / "ethers"
    ethers.write_text("10.0.0.30 02:00:00:00:00:30\n")
    assert tool(net, "arp", "-f", str(ethers), wrapper=True) == (0, "", "")
    assert "? (10.0.0.30) at 02:00:00:00:00:30" in ok(net, "arp", "-an", wrapper=True)


def test_arp_libxo_json(net):
    ok(net, "arp", "-s", "10.0.0.6", "02:00:00:00:00:06", "pub")
    doc = json.loads(ok(net, "arp", "-an", "--libxo", "json"))
    assert doc == {"__version": "1", "arp": {"arp-cache": [
        {"hostname": "?", "ip-address": "10.0.0.2", "mac-address": VNET0_MAC,
         "interface": "vnet0", "permanent": True, "type": "ethernet"},
        {"hostname": "?", "ip-address": "10.0.0.6", "mac-address": "02:00:00:00:00:06",
         "interface": "vnet0", "permanent": True, "published": True, "type": "ethernet"}]}}
    assert json.loads(ok(net, "--libxo", "json", "arp", "-an"))["arp"]["arp-cache"][0][
        "ip-address"] == "10.0.0.2"


def test_arp_libxo_xml_and_other_formats(net):
    """arp.c's libxo fields as XML (xo_set_version -> the version attribute); a style
    libxo does not know fails xo_parse_args, and arp exits 1 (`if (argc < 0) exit(1)`)."""
    ok(net, "arp", "-s", "10.0.0.6", "02:00:00:00:00:06", "pub")
    assert tool(net, "arp", "-an", "--libxo", "xml") == (0, (
        '<arp version="1"><arp-cache><hostname>?</hostname><ip-address>10.0.0.2</ip-address>'
        f'<mac-address>{VNET0_MAC}</mac-address><interface>vnet0</interface>'
        '<permanent>true</permanent><type>ethernet</type></arp-cache><arp-cache>'
        '<hostname>?</hostname><ip-address>10.0.0.6</ip-address>'
        '<mac-address>02:00:00:00:00:06</mac-address><interface>vnet0</interface>'
        '<permanent>true</permanent><published>true</published><type>ethernet</type>'
        '</arp-cache></arp>\n'), "")
    assert tool(net, "arp", "-an", "--libxo", "yaml") == (
        1, "", "arp: unknown libxo option value: 'yaml'\n")
    assert tool(net, "--libxo", "csv", "arp", "-an") == (
        1, "", "arp: unknown libxo option value: 'csv'\n")


def test_arp_pub_auto(net):
    assert tool(net, "arp", "-s", "10.0.0.40", "auto", "pub") == (
        0, f"using interface vnet0 for proxy with address {VNET0_MAC}\n", "")
    assert tool(net, "arp", "-s", "10.9.0.40", "auto", "pub") == (
        1, "", "arp: no interface found for 10.9.0.40\n")


def test_ops_for():
    assert ops_for(["-S", "10.0.0.5", "02:00:00:00:00:05"]) == ToolOps(
        [["llmsg", {"type": "RTM_DELETE", "af": "inet", "addr": "10.0.0.5"},
          [ENOENT, ESRCH, ENETUNREACH]],
         ["llmsg", {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.5",
                    "mac": "02:00:00:00:00:05", "flags": RTF_STATIC}, [ENETUNREACH]]],
        ["delete 10.0.0.5", "set 10.0.0.5"])
    temp = ops_for(["-s", "10.0.0.5", "2:0:0:0:0:5", "temp", "reject", "pub", "only"])
    assert temp.ops[0][1] == {"type": "RTM_ADD", "af": "inet", "addr": "10.0.0.5",
                              "mac": "02:00:00:00:00:05", "temp": True,
                              "flags": RTF_STATIC | RTF_REJECT | RTF_ANNOUNCE}
    assert ops_for(["-d", "10.0.0.5"]).lines == ["10.0.0.5 (10.0.0.5) deleted"]
    for readonly in (["-an"], ["10.0.0.5"], ["-d", "-a"], ["-f", "/etc/ethers"]):
        assert ops_for(readonly) is None
    with pytest.raises(ToolError) as exc:
        ops_for(["-s", "10.0.0.5", "zz"])
    assert (exc.value.message, exc.value.status) == ("arp: invalid Ethernet address 'zz'", 1)
    with pytest.raises(ToolError):
        ops_for(["-s", "10.0.0.5"])
    set_ops = ops_for(["-s", "10.9.9.9", "02:00:00:00:00:05"])
    assert failure(set_ops, 0, ENETUNREACH) == ("", "arp: delete: cannot locate 10.9.9.9\n", 0)
    assert failure(set_ops, 0, 17) == ("", "arp: set 10.9.9.9: File exists\n", 1)


def test_ops_for_batch_applies_like_the_tool(net, client):
    client.batch(ops_for(["-S", "10.0.0.5", "02:00:00:00:00:05"]).ops)
    client.batch(ops_for(["-S", "10.0.0.5", "02:00:00:00:00:55", "pub"]).ops)
    assert ok(net, "arp", "-an") == OWN + (
        "? (10.0.0.5) at 02:00:00:00:00:55 on vnet0 permanent published [ethernet]\n")


def test_a_big_table_is_walked_a_slice_per_turn_in_the_kernel_s_order(monkeypatch):
    """`arp -an` of a big table: the dump sorts WALK_STEP entries per loop turn (yielding
    None between, where sorting 200,000 at once held the loop ~40 ms), and what it sends
    is still FreeBSD 14's walk: bucket by bucket (in.c IN_LLTBL_HASH, computed here
    independently), the newest entry of a bucket first."""
    from plebnet_core.syscalls import dumps
    monkeypatch.setattr(dumps, "WALK_STEP", 16)
    sc = fresh_syscalls(16)
    hosts = [f"10.0.{i % 7}.{(i * 37) % 250 + 3}" for i in range(300)]
    hosts = list(dict.fromkeys(hosts))          # (distinct, in the order made)
    sc.run_batch([["llmsg", {"type": "RTM_ADD", "af": "inet", "addr": h,
                             "mac": "02:00:00:00:00:01"}] for h in hosts])
    stream = sc.dispatch("sysctl", {"name": "NET_RT_FLAGS", "af": "inet"})
    chunks = list(stream.rows)
    assert chunks.count(None) >= len(hosts) // 16      # a pause per sorted slice

    def bucket(text):
        a, b, c, d = map(int, text.split("."))
        return (a ^ b ^ c ^ d) & 31
    made = hosts + ["10.0.0.2"]                 # (the interface's own entry: made first)
    made.insert(0, made.pop())
    want = sorted(made, key=lambda h: (bucket(h), -made.index(h)))
    assert [row["addr"] for chunk in chunks if chunk for row in chunk] == want
