"""The demo (README's first command): two stacks booted from rc.conf files, linked by Ethernet
over UDP (VXLAN) on loopback, configured and inspected with the FreeBSD tools, packets flowing.

No root needed: the stacks' sockets live in a private temporary directory, and the only
traffic is UDP between two ports of 127.0.0.1.
"""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile

from plebnet_core.spawn import spawn_stack

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join("rc", "rc.conf.example")
PEER = os.path.join("rc", "rc.conf.peer")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def say(text: str) -> None:
    print(f"\n# {text}")


def run(stack, line: str, name: str) -> None:
    """Run one plebconf command line against a stack, shown like a shell session."""
    print(f"[{name}]$ plebconf -p {stack.pid} {line}")
    # one stream, in the order written (traceroute's heading goes to stderr first)
    out = subprocess.run([sys.executable, "-m", "plebconf", *shlex.split(line)],
                         env=stack.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, cwd=HERE)
    sys.stdout.write(out.stdout)


def wrapper(stack, line: str, name: str) -> None:
    """The same through scripts/: FreeBSD's own command names, PLEBNET_PID picks the stack."""
    print(f"[{name}]$ PATH=scripts:$PATH PLEBNET_PID={stack.pid} {line}")
    env = dict(stack.env(), PYTHON=sys.executable,
               PATH=os.path.join(HERE, "scripts") + os.pathsep + os.environ["PATH"])
    out = subprocess.run(shlex.split(line), env=env, capture_output=True, text=True, cwd=HERE)
    sys.stdout.write(out.stdout + out.stderr)


def main() -> None:
    os.chdir(HERE)
    sockdir = tempfile.mkdtemp(prefix="plebnet-demo-")
    port_a, port_b = free_udp_port(), free_udp_port()
    link_a = f"vxlan:42,127.0.0.1:{port_a},127.0.0.1:{port_b}"
    link_b = f"vxlan:42,127.0.0.1:{port_b},127.0.0.1:{port_a}"
    say(f"boot two stacks (sockets in {sockdir}); their vnet0 ports share one VXLAN segment")
    print(f"$ plebnet --nic vnet0={link_a} --nic vnet1=none --rc {EXAMPLE}")
    print(f"$ plebnet --nic vnet0={link_b} --rc {PEER}")
    try:
        with spawn_stack(["--nic", f"vnet0={link_a}", "--nic", "vnet1=none", "--rc", EXAMPLE],
                         sockdir=sockdir) as router, \
             spawn_stack(["--nic", f"vnet0={link_b}", "--rc", PEER],
                         sockdir=sockdir) as gateway:
            print(f"router: pid {router.pid}   gateway: pid {gateway.pid}")
            say("the running stacks")
            run(router, "ps", "router")
            say("what rc.conf.example did, as ifconfig/route/arp command lines")
            run(router, f"rc apply --dry-run {EXAMPLE}", "router")
            say("the router's interfaces and routing table")
            run(router, "ifconfig -a", "router")
            run(router, "netstat -rn", "router")
            say("packets: the router pings its gateway over the VXLAN link")
            run(router, "ping -c 3 192.0.2.1", "router")
            say("...and the gateway reaches the router's inside LAN through its static route")
            run(gateway, "ping -c 2 -S 192.0.2.1 198.51.100.1", "gateway")
            say("IPv6: the router pings its gateway's IPv6 address (found by Neighbor Discovery)")
            run(router, "ping -6 -c 3 2001:db8:1::1", "router")
            say("...and the gateway traces its way to the router, IPv6 and IPv4")
            run(gateway, "traceroute6 -n -w 2 2001:db8:1::10", "gateway")
            run(gateway, "traceroute -n -w 2 198.51.100.1", "gateway")
            say("the ARP tables: rc.conf pinned the gateway on the router; "
                "the gateway learned the router")
            run(router, "arp -an", "router")
            run(gateway, "arp -an", "gateway")
            say("interface counters on both")
            run(router, "netstat -in", "router")
            run(gateway, "netstat -in", "gateway")
            say("change a route live, FreeBSD's way, through the wrapper scripts")
            wrapper(router, "route add -net 203.0.113.128/25 192.0.2.1", "router")
            wrapper(router, "route -n get 203.0.113.200", "router")
            wrapper(router, "ifconfig vnet0 inet 192.0.2.99/32 alias", "router")
            run(gateway, "ping -c 1 192.0.2.99", "gateway")
            say("the running configuration, saved as rc.conf")
            run(router, "rc save", "router")
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)
    say("both stacks stopped")


if __name__ == "__main__":
    main()
