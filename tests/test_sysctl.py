"""sysctl(8) against a live stack: reading, setting (`name: old -> new`), -n, -i, and
sysctl.c's words for what it refuses; each name alone, a failure not stopping the rest."""
from conftest import run_tool


def sysctl(stack, *argv):
    r = run_tool(stack, "sysctl", *argv)
    return r.returncode, r.stdout, r.stderr


def test_read_and_set(stack):
    assert sysctl(stack, "net.inet.ip.forwarding") == (0, "net.inet.ip.forwarding: 0\n", "")
    assert sysctl(stack, "net.inet.ip.forwarding=1", "net.link.ether.inet.max_age=0x258") == (
        0, "net.inet.ip.forwarding: 0 -> 1\nnet.link.ether.inet.max_age: 1200 -> 600\n", "")
    assert sysctl(stack, "-n", "net.inet.ip.forwarding", "net.link.ether.inet.max_age") == (
        0, "1\n600\n", "")
    assert sysctl(stack, "net.link.ether.inet.maxtries=010") == (
        0, "net.link.ether.inet.maxtries: 5 -> 8\n", "")        # strtol's base 0: octal
    assert sysctl(stack, "kern.hostname=gw1") == (0, "kern.hostname:  -> gw1\n", "")


def test_refusals_in_sysctl_c_words_and_the_rest_goes_on(stack):
    assert sysctl(stack, "net.nosuch", "net.inet.ip.forwarding") == (
        1, "net.inet.ip.forwarding: 0\n", "sysctl: unknown oid 'net.nosuch'\n")
    assert sysctl(stack, "-i", "net.nosuch") == (0, "", "")
    assert sysctl(stack, "NET_RT_DUMP") == (1, "", "sysctl: unknown oid 'NET_RT_DUMP'\n")
    assert sysctl(stack, "net.fibs=2") == (1, "", "sysctl: oid 'net.fibs' is read only\n")
    assert sysctl(stack, "net.inet.ip.forwarding=yes", "net.inet.ip.forwarding=") == (
        1, "", "sysctl: invalid integer 'yes'\nsysctl: empty numeric value\n")
    assert sysctl(stack, "net.link.ether.inet.max_age=-1") == (
        1, "", "sysctl: net.link.ether.inet.max_age=-1: Invalid argument\n")
    assert sysctl(stack, "-x") == (1, "", "sysctl: illegal option -- x\n"
                                          "usage: sysctl [-in] name[=value] ...\n")
    assert sysctl(stack, "net.inet.ip.forwarding") == (0, "net.inet.ip.forwarding: 0\n", "")
