"""--libxo (plebconf.cli.libxo): libxo's option syntax as xo_parse_args()/xo_set_options()
take it, and the JSON / XML renderings of the tools' documents."""
import json

import pytest

from plebconf.cli.common import ToolError
from plebconf.cli.libxo import Style, parse, render

ARP_DOC = {"__version": "1", "arp": {"arp-cache": [
    {"hostname": "?", "ip-address": "10.0.0.2", "mac-address": "02:00:00:00:00:02",
     "interface": "vnet0", "permanent": True, "type": "ethernet"},
    {"hostname": "?", "ip-address": "10.0.0.9", "incomplete": True, "interface": "vnet0",
     "expires": 17}]}}


@pytest.mark.parametrize("args, default, name, pretty, rest", [
    (["-an"], None, "text", False, ["-an"]),
    (["--libxo", "json", "-an"], None, "json", False, ["-an"]),
    (["-an", "--libxo=xml,pretty"], None, "xml", True, ["-an"]),
    (["--libxo:XP", "-a"], None, "xml", True, ["-a"]),          # old-style letters
    (["--libxo:J", "-a"], None, "json", False, ["-a"]),
    (["-a"], "json", "json", False, ["-a"]),                    # plebconf --libxo FMT TOOL
    (["--libxo", "text", "-a"], "json", "text", False, ["-a"]),  # the tool's own word wins
    (["--libxo", "json,xml", "-a"], None, "json", False, ["-a"]),  # first style kept
    (["--libxo", "warn,keys,json", "-a"], None, "json", False, ["-a"]),
    (["--libxo", "xml,indent=4"], None, "xml", False, []),
])
def test_parse_takes_libxo_words_out_wherever_they_are(args, default, name, pretty, rest):
    style, left = parse(args, default, "arp")
    assert (style.name, style.pretty, left) == (name, pretty, rest)


@pytest.mark.parametrize("args, message", [
    # xo_set_options: xo_warnx("unknown libxo option value: '%s'"), rc -1; arp and netstat
    # exit(1) when xo_parse_args fails
    (["--libxo", "yaml"], "arp: unknown libxo option value: 'yaml'"),
    (["--libxo=json,shiny"], "arp: unknown libxo option value: 'shiny'"),
    (["--libxo:JZ"], "arp: unknown libxo option value: 'Z'"),
    (["-a", "--libxo"], "arp: missing libxo option"),
    # html is a libxo style this project does not render: refused by name
    (["--libxo", "html"], "arp: libxo style 'html' not supported by plebconf"),
    (["--libxo", "encoder=csv"], "arp: libxo encoders not supported by plebconf"),
])
def test_other_formats_are_errors(args, message):
    with pytest.raises(ToolError) as exc:
        parse(args, None, "arp")
    assert (exc.value.message, exc.value.status) == (message, 1)


def test_xml_elements_repeat_for_lists_and_carry_the_version():
    # xo_set_version() is the first element's `version` attribute in XML; list instances
    # repeat their element; `{en:permanent/true}` leaves are the text true
    assert render(ARP_DOC, Style("xml")) == (
        '<arp version="1"><arp-cache><hostname>?</hostname><ip-address>10.0.0.2</ip-address>'
        '<mac-address>02:00:00:00:00:02</mac-address><interface>vnet0</interface>'
        '<permanent>true</permanent><type>ethernet</type></arp-cache>'
        '<arp-cache><hostname>?</hostname><ip-address>10.0.0.9</ip-address>'
        '<incomplete>true</incomplete><interface>vnet0</interface><expires>17</expires>'
        '</arp-cache></arp>\n')


def test_xml_leaf_lists_and_escaping_and_pretty():
    doc = {"statistics": {"route-information": {"route-table": {"rt-family": [
        {"address-family": "Internet", "rt-entry": [
            {"destination": "default", "gateway": "<&>", "flags_pretty": ["up", "gateway"]}]}]}}}}
    assert render(doc, Style("xml", pretty=True)) == """\
<statistics>
  <route-information>
    <route-table>
      <rt-family>
        <address-family>Internet</address-family>
        <rt-entry>
          <destination>default</destination>
          <gateway>&lt;&amp;&gt;</gateway>
          <flags_pretty>up</flags_pretty>
          <flags_pretty>gateway</flags_pretty>
        </rt-entry>
      </rt-family>
    </route-table>
  </route-information>
</statistics>
"""


def test_json_plain_and_pretty_are_the_same_document():
    plain = render(ARP_DOC, Style("json"))
    pretty = render(ARP_DOC, Style("json", pretty=True))
    assert plain.count("\n") == 1 and pretty.count("\n") > 10
    assert json.loads(plain) == json.loads(pretty) == ARP_DOC


def test_xml_leaves_out_fields_without_a_value():
    doc = {"interfaces": [{"vxlan": {"vni": 5, "local": None, "learn": False}}]}
    assert render(doc, Style("xml")) == (
        "<interfaces><vxlan><vni>5</vni><learn>false</learn></vxlan></interfaces>\n")
