"""plebconf tcpdump -w ends as tcpdump does: its statistics (tcpdump.c info(1)) on stderr
after -c packets or ^C, with PLURAL_SUFFIX; on ^C first the "extra newline, just in case"
on stdout (status == -2, pcap_breakloop)."""
from __future__ import annotations

import signal
import subprocess
import sys

from tests.conftest import ROOT
from tests.tooltest import ok


def _start(stack, *argv):
    env = stack.env()
    env["PYTHONPATH"] = ROOT
    return subprocess.Popen([sys.executable, "-m", "plebconf", "tcpdump", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigint_prints_the_three_statistics_lines(stack, tmp_path):
    cap = tmp_path / "lo0.pcap"
    proc = _start(stack, "-i", "lo0", "-w", str(cap))
    assert proc.stderr.readline() == ("tcpdump: listening on lo0, link-type NULL (BSD "
                                      "loopback), snapshot length 262144 bytes\n")
    # two echo requests and their replies cross lo0: bpf on lo0 sees each packet once
    ok(stack, "ping", "-c", "2", "-i", "0.1", "127.0.0.1")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (
        0, "\n", "4 packets captured\n4 packets received by filter\n"
                 "0 packets dropped by kernel\n")


def test_count_reached_prints_them_with_singulars(stack, tmp_path):
    cap = tmp_path / "one.pcap"
    proc = _start(stack, "-i", "lo0", "-w", str(cap), "-c", "1")
    proc.stderr.readline()
    ok(stack, "ping", "-c", "1", "127.0.0.1")
    out, err = proc.communicate(timeout=30)
    # PLURAL_SUFFIX(n): "" for 1
    assert (proc.returncode, out, err) == (
        0, "", "1 packet captured\n1 packet received by filter\n0 packets dropped by kernel\n")
