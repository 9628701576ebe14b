"""Helpers for the route / arp / netstat tool tests: run a tool, set the stack up."""
from __future__ import annotations

import ipaddress

from plebnet_core.state.stack import stable_mac
from tests.conftest import TEST_HOSTUUID, run_tool

# the stacks the tests start are given a host uuid (--hostuuid), so vnet0's MAC, derived
# from it and the name as ether_gen_addr does, is known
VNET0_MAC = stable_mac(TEST_HOSTUUID, "vnet0").hex(":")


def eui64(prefix: str, mac: str = VNET0_MAC) -> str:
    """prefix (an IPv6 /64, e.g. "fe80::") with the modified EUI-64 identifier of mac."""
    b = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([b[0] ^ 2]) + b[1:3] + b"\xff\xfe" + b[3:]
    return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address(prefix)) |
                                     int.from_bytes(iid, "big")))


VNET0_LL = eui64("fe80::")          # vnet0's link-local address, without its zone


def tool(stack, *argv, wrapper: bool = False, input: str | None = None):
    """(exit status, stdout, stderr) of `plebconf TOOL ARGS` (or scripts/TOOL)."""
    done = run_tool(stack, *argv, wrapper=wrapper, input=input)
    return done.returncode, done.stdout, done.stderr


def ok(stack, *argv, wrapper: bool = False) -> str:
    rc, out, err = tool(stack, *argv, wrapper=wrapper)
    assert (rc, err) == (0, ""), (argv, rc, out, err)
    return out


def add_addr(client, ifname: str, addr: str, plen: int) -> None:
    if ":" in addr:
        client.ioctl("SIOCAIFADDR_IN6", ifname=ifname, addr=addr, plen=plen,
                     flags=0x20)     # IN6_IFF_NODAD: no tentative phase in listings
    else:
        client.ioctl("SIOCAIFADDR", ifname=ifname, addr=addr, plen=plen)
