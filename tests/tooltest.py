"""Helpers for the route / arp / netstat tool tests: run a tool, set the stack up."""
from __future__ import annotations

from tests.conftest import run_tool

VNET0_MAC = "02:70:6e:4f:39:31"     # stable_mac("vnet0=none")


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
