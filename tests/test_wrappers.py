"""scripts/: the FreeBSD-named wrappers (links to scripts/plebtool) run plebconf's tool of the
same name against the stack PLEBNET_PID names, and never fall through to the host's tool."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from tests.conftest import ROOT, run_tool

SCRIPTS = os.path.join(ROOT, "scripts")


def wrapper_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PLEBNET_PID"}
    env.update(PATH=SCRIPTS + os.pathsep + env.get("PATH", ""), PYTHON=sys.executable,
               PYTHONPATH=ROOT, **extra)
    return env


def test_the_wrappers_come_first_on_path():
    env = wrapper_env()
    for tool in ("ifconfig", "route", "arp", "netstat", "ping", "ndp"):
        assert shutil.which(tool, path=env["PATH"]) == os.path.join(SCRIPTS, tool), tool


def test_ping_without_plebnet_pid_refuses_and_runs_no_host_ping():
    for tool in ("ping", "netstat"):
        done = subprocess.run([tool, "-c", "1", "127.0.0.1"] if tool == "ping" else [tool],
                              env=wrapper_env(), capture_output=True, text=True, timeout=30)
        assert (done.returncode, done.stdout, done.stderr) == (
            69, "", f"{tool}: PLEBNET_PID is not set: it must name the plebnet stack to use\n")


def test_ping_and_netstat_through_their_wrappers(stack):
    done = run_tool(stack, "ping", "-c", "1", "127.0.0.1", wrapper=True)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "PING 127.0.0.1 (127.0.0.1): 56 data bytes"
    assert re.fullmatch(r"64 bytes from 127\.0\.0\.1: icmp_seq=0 ttl=64 time=\d+\.\d{3} ms",
                        lines[1])
    assert lines[4] == "1 packets transmitted, 1 packets received, 0.0% packet loss"
    done = run_tool(stack, "netstat", "-ss", "-p", "icmp", wrapper=True)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == ("icmp:\n\tOutput histogram:\n\t\techo reply: 1\n"
                           "\tInput histogram:\n\t\techo reply: 1\n\t\techo: 1\n"
                           "\t1 message response generated\n"
                           "\tICMP address mask responses are disabled\n")


def test_ndp_through_its_wrapper(stack):
    done = subprocess.run(["ndp", "-an"], env=wrapper_env(), capture_output=True, text=True,
                          timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (
        69, "", "ndp: PLEBNET_PID is not set: it must name the plebnet stack to use\n")
    done = run_tool(stack, "ndp", "-an", wrapper=True)
    assert (done.returncode, done.stderr) == (0, "")
    # ndp.c's header line (the table itself is compared whole in test_ndp.py)
    assert done.stdout.splitlines()[0].split() == [
        "Neighbor", "Linklayer", "Address", "Netif", "Expire", "S", "Flags"]
