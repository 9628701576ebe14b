"""The shared keyword entry and table registry (plebconf.cli.keywords), and the one ToolOps."""
import subprocess
import sys

import pytest

from plebconf.cli import keywords
from plebconf.cli.keywords import Keyword, register, table


def test_keyword_is_frozen_and_applies_its_handler_with_name_and_const():
    seen = []
    kw = Keyword("mtu", 1, lambda state, name, const, value: seen.append(
        (state, name, const, value)), "C")
    kw.apply("S", ["1400"])
    assert seen == [("S", "mtu", "C", "1400")]
    with pytest.raises(AttributeError):
        kw.nargs = 2


def test_registering_a_name_twice_with_another_meaning_is_refused():
    def h(*_):
        pass
    register("test-table", Keyword("x", 0, h, 1))
    register("test-table", Keyword("x", 0, h, 1))        # the same entry again: harmless
    with pytest.raises(ValueError):
        register("test-table", Keyword("x", 1, h, 1))
    assert list(table("test-table")) == ["x"]
    keywords._TABLES.pop("test-table")


def test_each_grammar_registers_its_own_table():
    from plebconf.cli import ifconfig_grammar, route
    from plebconf.cli.ifconfig_clone import CLONE_TABLE
    ifc, clone, rt = table("ifconfig"), table(CLONE_TABLE), table(route.TABLE)
    assert ifc["mtu"].nargs == 1 and callable(ifc["mtu"].handler)
    # ifvxlan.c registers vni both as a clone command and as an ordinary one; flush only
    # as an ordinary one
    assert clone["vni"] is ifc["vni"] and "vxlanflush" in ifc and "vxlanflush" not in clone
    assert "mtu" not in clone
    assert rt["netmask"].nargs == 1 and rt["reject"].nargs == 0
    assert all(isinstance(k, Keyword) for t in (ifc, clone, rt) for k in t.values())
    assert ifconfig_grammar.TABLE == "ifconfig"


def test_the_clone_module_does_not_import_the_grammar():
    # the cycle ifconfig_grammar <-> ifconfig_clone is gone: the clone module loads alone
    code = ("import sys, plebconf.cli.ifconfig_clone; "
            "print('plebconf.cli.ifconfig_grammar' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_one_toolops_class_for_every_tool():
    from plebconf.cli import arp, common, ifconfig, route, toolops
    from plebconf.rc import command
    assert common.ToolOps is toolops.ToolOps is ifconfig.ToolOps is command.ToolOps
    assert type(route.ops_for(["add", "10.1.0.0/16", "10.0.0.1"])) is toolops.ToolOps
    assert type(arp.ops_for(["-d", "10.0.0.5"])) is toolops.ToolOps
    assert type(ifconfig.ops_for(["vnet0", "up"])) is toolops.ToolOps
