"""`plebconf TOOL --help`: the tool's usage on stdout, exit 0, no stack needed; `--help`
anywhere else is still the tool's own word."""
import pytest

from conftest import run_tool
from plebconf.cli import TOOLS, arp, ifconfig_grammar, netstat, route


@pytest.mark.parametrize("name, usage", [
    ("ifconfig", ifconfig_grammar.USAGE), ("route", route.USAGE), ("arp", arp.USAGE),
    ("netstat", netstat.USAGE)])
def test_help_prints_the_usage_the_tool_prints(name, usage):
    done = run_tool(None, name, "--help", env={"PLEBNET_SOCKDIR": "/nonexistent"})
    assert (done.returncode, done.stdout, done.stderr) == (0, usage + "\n", "")


def test_every_tool_has_help():
    for name in TOOLS:
        done = run_tool(None, name, "--help", env={"PLEBNET_SOCKDIR": "/nonexistent"})
        assert done.returncode == 0 and done.stdout.startswith(
            ("usage: ", "route: usage: ")) and done.stderr == "", name


def test_help_later_in_the_line_is_the_tools_word():
    env = {"PLEBNET_SOCKDIR": "/nonexistent"}
    # ifconfig: getopt's illegal option (the `-` of `--help`), then its usage
    done = run_tool(None, "ifconfig", "-a", "--help", env=env)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "ifconfig: illegal option -- -\n" + ifconfig_grammar.USAGE + "\n")
    # arp: getopt's illegal option, then arp's usage
    done = run_tool(None, "arp", "-a", "--help", env=env)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "arp: illegal option -- -\n" + arp.USAGE + "\n")
