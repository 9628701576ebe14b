"""The demo (README's first command): boot a stack, configure it over its socket, inspect it.

Runs without root: the stacks' sockets live in a private temporary directory.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile

from plebnet_core.spawn import spawn_stack

HERE = os.path.dirname(os.path.abspath(__file__))


def run(stack, line: str) -> None:
    """Run one plebconf command line against the stack and show it like a shell session."""
    print(f"$ plebconf -p {stack.pid} {line}")
    out = subprocess.run([sys.executable, "-m", "plebconf", *shlex.split(line)],
                         env=stack.env(), capture_output=True, text=True)
    sys.stdout.write(out.stdout)
    sys.stdout.write(out.stderr)
    print()


def main() -> None:
    sockdir = tempfile.mkdtemp(prefix="plebnet-demo-")
    print(f"booting a plebnet stack (sockets in {sockdir})\n")
    with spawn_stack(["--nic", "vnet0=none"], sockdir=sockdir) as stack:
        print(f"stack pid {stack.pid}, control socket {stack.path}\n")
        run(stack, "ps")
        with stack.client() as c:
            c.ioctl("SIOCAIFADDR", ifname="vnet0", addr="10.0.0.2", plen=24)
            c.rtmsg("RTM_ADD", af="inet", dst="0.0.0.0", plen=0, gateway="10.0.0.1")
            print("routes, as the stack dumps them (NET_RT_DUMP):")
            for row in c.sysctl("NET_RT_DUMP"):
                print("  ", row)
    print("\nstack stopped")


if __name__ == "__main__":
    main()
