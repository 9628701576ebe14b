"""`--libxo` for the tools: libxo's option syntax, and the JSON and XML renderings of the
documents the tools build (docs/freebsd-tools.md §3, §4).

FreeBSD's arp(8) and netstat(1) hand their argv to libxo's xo_parse_args(), which takes out
`--libxo STYLE[,FLAG...]`, `--libxo=...` and the old-style `--libxo:LETTERS` wherever they
are, and fails the run (`TOOL: unknown libxo option value: 'X'`, exit 1) on a word it does
not know.  The styles rendered here are text, json and xml; html (a libxo style) is refused
by name rather than printed as something else.  A tool builds one nested dict per output
(containers are dicts, lists are libxo lists or leaf-lists, `__version` is xo_set_version's)
and `emit` writes it in the chosen style; text output stays the tool's own.
"""
from __future__ import annotations

import sys

from .common import ToolError

STYLES = ("text", "json", "xml")
# libxo's flag names (xo_xof_names and the options xo_set_options knows): accepted; only
# pretty changes what is printed here
FLAGS = frozenset((
    "pretty", "warn", "warn-xml", "keys", "info", "color", "no-color", "colors", "flush",
    "flush-line", "no-top", "not-first", "underscores", "units", "dtrt", "no-humanize",
    "no-locale", "no-retain", "retain-all", "retain-none", "ignore-close", "log-gettext",
    "log-syslog", "columns", "indent", "map", "meta", "continuation", "xpath",
))
# old-style letters (`--libxo:XP`)
LETTERS = {"T": "text", "J": "json", "X": "xml", "H": "html", "P": "pretty", "W": "warn",
           "I": "info", "k": "keys", "x": "xpath", "f": "flush", "F": "flush-line",
           "g": "log-gettext", "n": "no-humanize", "U": "units", "u": "underscores",
           "c": "color"}


class Style:
    """What --libxo asked for: name is text, json or xml; pretty indents."""
    __slots__ = ("name", "pretty")

    def __init__(self, name: str = "text", pretty: bool = False):
        self.name, self.pretty = name, pretty

    @property
    def encoded(self) -> bool:
        """json or xml: the tool builds a document instead of its text."""
        return self.name != "text"

    def __repr__(self):
        return f"Style({self.name!r}, pretty={self.pretty})"


def _options(style: Style, text: str, tool: str) -> None:
    """xo_set_options(): comma-separated names (name=value for a few), or old-style
    letters after a colon."""
    if text.startswith(":"):
        words = [LETTERS.get(c, c) for c in text[1:]]
    else:
        words = [w.partition("=")[0] for w in text.split(",") if w]
    chosen = None
    for word in words:
        if word in STYLES or word == "html":
            if chosen is None:      # libxo warns "ignoring multiple styles" and keeps the first
                chosen = word
        elif word == "pretty":
            style.pretty = True
        elif word not in FLAGS and word != "encoder":
            raise ToolError(f"{tool}: unknown libxo option value: '{word}'", 1)
    if chosen == "html" or "encoder" in words:
        what = "style 'html'" if chosen == "html" else "encoders"
        raise ToolError(f"{tool}: libxo {what} not supported by plebconf", 1)
    if chosen is not None:
        style.name = chosen


def parse(args: list[str], default: str | None, tool: str) -> tuple[Style, list[str]]:
    """(style, the arguments without the libxo ones), as xo_parse_args leaves argv.
    default: plebconf's own `--libxo FMT` before the tool name, applied first."""
    style = Style()
    if default is not None:
        _options(style, default, tool)
    rest, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--libxo":
            if i + 1 >= len(args):
                raise ToolError(f"{tool}: missing libxo option", 1)
            _options(style, args[i + 1], tool)
            i += 2
            continue
        if arg.startswith("--libxo=") or arg.startswith("--libxo:"):
            _options(style, arg[8:] if arg[7] == "=" else arg[7:], tool)
        else:
            rest.append(arg)
        i += 1
    return style, rest


def render(doc: dict, style: Style) -> str:
    """The document as libxo prints it in style (json or xml), with a final newline."""
    if style.name == "json":
        import json     # only encoded runs pay for it
        if style.pretty:
            return json.dumps(doc, indent=2) + "\n"
        return json.dumps(doc) + "\n"
    out: list[str] = []
    version = doc.get("__version")
    first = True
    for name, value in doc.items():
        if name == "__version":
            continue
        # xo_set_version() is an attribute of the first element in XML
        attrs = f' version="{_escape(version)}"' if first and version is not None else ""
        _xml(name, value, out, attrs, 0 if style.pretty else None)
        first = False
    text = "".join(out)
    return text if text.endswith("\n") else text + "\n"


def emit(doc: dict, style: Style) -> None:
    sys.stdout.write(render(doc, style))


def _escape(value) -> str:
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _leaf(value) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _escape(value)


def _xml(name: str, value, out: list, attrs: str = "", depth: int | None = None) -> None:
    """One element: a dict is a container, a list repeats the element (libxo's list
    instances and leaf-lists alike), None is left out, anything else is a leaf."""
    if value is None:               # a field with no value is not emitted at all
        return
    pad, nl = ("  " * depth, "\n") if depth is not None else ("", "")
    if isinstance(value, list):
        for item in value:
            _xml(name, item, out, attrs, depth)
        return
    if isinstance(value, dict):
        out.append(f"{pad}<{name}{attrs}>{nl}")
        for key, item in value.items():
            _xml(key, item, out, "", None if depth is None else depth + 1)
        out.append(f"{pad}</{name}>{nl}")
        return
    out.append(f"{pad}<{name}{attrs}>{_leaf(value)}</{name}>{nl}")
