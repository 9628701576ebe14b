"""The arguments of every op, declared: name, type, whether required, and the range of a
number -- in the spirit of pyroute2's declared `fields`, so the protocol's argument lists live
here and not only in the handlers.

The stack checks a request against its op's schema once, at its boundary (dispatch, for a
lone request and for every op of a batch), before the handler runs: a value of the wrong
type, a number out of range or fractional where an integer belongs, a float that is NaN or
infinite, or a required argument missing is EINVAL, with the argument named.  Arguments not
declared are ignored, as the handlers ignore them.  Ops with sub-requests (ioctl "req",
rtmsg and llmsg "type") have one schema per sub-request, on top of the op's own fields; an
unknown sub-request is left to the handler, which names it.

    check(op, args)         raises OpError(EINVAL) for the first bad argument
    checker(op, sub)        check of one op's (and sub-request's) args, schema found once
    SCHEMAS / SUBSCHEMAS    the declarations
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from math import inf, isfinite
from typing import Any, NamedTuple

from .constants import EINVAL
from .errors import OpError

U32 = (1 << 32) - 1
I32 = (1 << 31) - 1


class Field(NamedTuple):
    """One argument.  kind: str, int, bool, dict, list, "number" (int or finite float) or
    "any"; lo/hi: the range of a number (inclusive, None: unbounded); choices: the values a
    str may take; nullable: None is accepted as "absent" (the handler's default is None)."""
    name: str
    kind: object
    required: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    nullable: bool = False


def req(name: str, kind: object, **kw: Any) -> Field:
    return Field(name, kind, True, **kw)


def opt(name: str, kind: object, **kw: Any) -> Field:
    return Field(name, kind, False, **kw)


IFNAME = req("ifname", str)
AF = opt("af", str, choices=("inet", "inet6"))
SET_CLEAR = (opt("set", int, lo=0, hi=U32), opt("clear", int, lo=0, hi=U32))

SCHEMAS: dict[str, tuple[Field, ...]] = {
    "hello": (opt("version", int),),
    "ioctl": (req("req", str),),
    "rtmsg": (req("type", str), AF),
    "llmsg": (req("type", str), AF),
    "sysctl": (req("name", str), opt("value", "any"), opt("af", str, choices=("inet", "inet6"),
                                                          nullable=True),
               opt("form", str, choices=("rows", "compact")), opt("ifname", str, nullable=True)),
    "ping": (req("dst", str), opt("src", str, nullable=True), opt("count", int, lo=0, hi=I32),
             opt("interval", "number", lo=0), opt("size", int, lo=0, hi=65507),
             opt("ttl", int, lo=1, hi=255), opt("timeout", "number", lo=0, nullable=True),
             opt("waittime", "number", lo=0, nullable=True),
             opt("minmtu", int, lo=-1, hi=1), AF),
    "traceroute": (req("dst", str), opt("src", str, nullable=True),
                   opt("first_ttl", int, lo=1, hi=255), opt("max_ttl", int, lo=1, hi=255),
                   opt("nprobes", int, lo=1, hi=I32), opt("waittime", "number", lo=0),
                   opt("icmp", bool), opt("port", int, lo=0, hi=65535),
                   opt("size", int, lo=0, hi=65535), opt("df", bool), AF),
    "pcap": (IFNAME, req("file", str), opt("count", int, lo=0, hi=I32)),
    "audit": (opt("n", int, lo=0, nullable=True),),
    # the data plane's: the DHCP client and lagg(4) (SIOCSLAGG, SIOCSLAGGPORT,
    # SIOCSLAGGDELPORT, SIOCSLAGGOPTS: one option, negative to clear it)
    "dhclient": (IFNAME, opt("sync", bool)),
    "lagg": (req("req", str, choices=("SIOCSLAGG", "SIOCSLAGGPORT", "SIOCSLAGGDELPORT",
                                      "SIOCSLAGGOPTS")),
             IFNAME, opt("proto", str), opt("port", str), opt("opts", int, lo=-I32, hi=I32)),
}

_ROUTE = (req("dst", str), opt("plen", int, lo=0, hi=128, nullable=True),
          opt("gateway", str, nullable=True), opt("iface", bool))
# route(8) passes its metrics as strtol gave them; the kernel's metrics are unsigned 32-bit
# (a negative -mtu or -hopcount is EINVAL, never "Mtu -5"), expire is relative and may be
# negative, the state model judges the weight
_ROUTE_MORE = (opt("flags", int, lo=0, hi=U32, nullable=True), opt("ifp", str, nullable=True),
               opt("mtu", int, lo=0, hi=U32, nullable=True),
               opt("hopcount", int, lo=0, hi=U32, nullable=True),
               opt("expire", int, nullable=True), opt("weight", int, nullable=True))

SUBSCHEMAS: dict[str, tuple[str, dict[str, tuple[Field, ...]]]] = {
    "ioctl": ("req", {
        "SIOCIFCREATE2": (IFNAME, opt("params", dict)),
        "SIOCIFDESTROY": (IFNAME,),
        "SIOCSIFNAME": (IFNAME, req("newname", str)),
        "SIOCSIFFLAGS": (IFNAME, *SET_CLEAR),
        "SIOCSIFMTU": (IFNAME, req("mtu", int, lo=0, hi=U32)),
        "SIOCSIFMETRIC": (IFNAME, req("metric", int, lo=-I32 - 1, hi=I32)),
        "SIOCSIFDESCR": (IFNAME, req("descr", str)),
        "SIOCSIFLLADDR": (IFNAME, req("lladdr", str)),
        "SIOCSIFCAP": (IFNAME, *SET_CLEAR),
        "SIOCAIFGROUP": (IFNAME, req("group", str)),
        "SIOCDIFGROUP": (IFNAME, req("group", str)),
        "SIOCSIFINFO_IN6": (IFNAME, *SET_CLEAR, opt("basereachable", int, lo=0, hi=U32),
                            opt("retrans", int, lo=0, hi=U32), opt("curhlim", int, lo=0, hi=255),
                            opt("linkmtu", int, lo=0, hi=U32)),
        "SIOCSDEFIFACE_IN6": (opt("ifname", str, nullable=True),),
        "SIOCSRTRFLUSH_IN6": (), "SIOCSPFXFLUSH_IN6": (), "SIOCSNDFLUSH_IN6": (),
        "SIOCAIFADDR": (IFNAME, req("addr", str), req("plen", int, lo=0, hi=32),
                        opt("broadcast", str, nullable=True),
                        opt("dstaddr", str, nullable=True)),
        "SIOCDIFADDR": (IFNAME, opt("addr", str, nullable=True)),
        "SIOCAIFADDR_IN6": (IFNAME, req("addr", str), opt("plen", int, lo=0, hi=128),
                            opt("flags", int, lo=0, hi=U32), opt("pltime", int, lo=0, hi=U32),
                            opt("vltime", int, lo=0, hi=U32),
                            opt("dstaddr", str, nullable=True), opt("eui64", bool)),
        "SIOCDIFADDR_IN6": (IFNAME, req("addr", str)),
        "SIOCSETVLAN": (IFNAME, req("vlandev", str), opt("vlan", int, lo=0, hi=0xFFFF),
                        opt("vlanproto", str, choices=("802.1q", "802.1ad")),
                        opt("vlanpcp", int, lo=0, hi=7)),
        "BRDGADD": (IFNAME, req("member", str)),
        "BRDGDEL": (IFNAME, req("member", str)),
        "BRDGRTS": (IFNAME,),
        "BRDGFLUSH": (IFNAME,),
        "SIOCSVLANPCP": (IFNAME, req("vlanpcp", int, lo=0, hi=7)),
        "SIOCSIFPHYADDR": (IFNAME, req("value", list)),
        "SIOCSIFPHYADDR_IN6": (IFNAME, req("value", list)),
        "SIOCDIFPHYADDR": (IFNAME,),
    }),
    "rtmsg": ("type", {
        "RTM_ADD": _ROUTE + _ROUTE_MORE,
        "RTM_DELETE": _ROUTE + _ROUTE_MORE[:1],
        "RTM_CHANGE": _ROUTE + _ROUTE_MORE,
        "RTM_GET": (req("dst", str), opt("plen", int, lo=0, hi=128, nullable=True)),
    }),
    "llmsg": ("type", {
        "RTM_ADD": (req("addr", str), req("mac", str), opt("flags", int, lo=0, hi=U32),
                    opt("temp", bool), opt("ifname", str, nullable=True)),
        "RTM_DELETE": (req("addr", str), opt("ifname", str, nullable=True)),
        "RTM_GET": (req("addr", str),),
    }),
}

_KIND_NAMES = {str: "str", int: "int", bool: "bool", dict: "map", list: "list",
               "number": "a finite number"}


def _bad(field: Field, value: object) -> str | None:
    """Why value does not fit field (None: it fits)."""
    kind = field.kind
    if kind == "any":
        return None
    if kind == "number":
        if type(value) is float:
            if not isfinite(value):
                return f"argument '{field.name}' must be a finite number"
        elif type(value) is not int:
            return f"argument '{field.name}' must be a number"
    elif type(value) is not kind:       # exact: a bool is not an int here
        return f"argument '{field.name}' must be {_KIND_NAMES[kind]}"
    number = value if isinstance(value, (int, float)) else None     # only numbers have ranges
    if number is not None and (field.lo is not None and number < field.lo
                               or field.hi is not None and number > field.hi):
        low = "" if field.lo is None else f"{field.lo:g}" if type(field.lo) is float \
            else str(field.lo)
        high = "" if field.hi is None else f"{field.hi:g}" if type(field.hi) is float \
            else str(field.hi)
        return (f"argument '{field.name}' must be {low}..{high}" if low and high else
                f"argument '{field.name}' must be at least {low}" if low else
                f"argument '{field.name}' must be at most {high}")
    if field.choices is not None and value not in field.choices:
        return f"argument '{field.name}' must be one of {', '.join(field.choices)}"
    return None


class _Compiled(NamedTuple):
    """A schema as check() reads it: (kind, low, high, choices, Field) by name, and the
    required names."""
    fields: dict[str, tuple[Any, float, float, frozenset[str] | None, Field]]
    required: frozenset[str]


def _compile(fields: tuple[Field, ...]) -> _Compiled:
    return _Compiled({f.name: (f.kind, -inf if f.lo is None else f.lo,
                               inf if f.hi is None else f.hi,
                               None if f.choices is None else frozenset(f.choices), f)
                      for f in fields},
                     frozenset(f.name for f in fields if f.required))


def _check(schema: _Compiled, args: dict[str, Any]) -> None:
    # every request passes here (a million-op batch once per op): the common case, a value
    # of the declared type within its range or choices, costs a lookup and a comparison or
    # two; anything else takes the slow path below, which says what is wrong
    fields, required = schema
    if not required <= args.keys():
        name = min(required - args.keys())
        raise OpError(EINVAL, f"missing argument '{name}'")
    get = fields.get
    for name, value in args.items():
        spec = get(name)
        if spec is None:
            continue
        kind = spec[0]
        if type(value) is kind:
            if kind is str:
                if spec[3] is None or value in spec[3]:
                    continue
            elif kind is int:
                if spec[1] <= value <= spec[2]:
                    continue
            elif spec[3] is None:
                continue
        _check_value(name, value, spec)


def _check_value(name: str, value: Any, spec: tuple[Any, ...]) -> None:
    """The slow path of _check: value is not plainly of its field's type and range."""
    kind, lo, hi, choices, field = spec
    if type(value) is kind:
        if kind is int:
            if lo <= value <= hi:
                return
        elif choices is None or value in choices:
            return
    if value is None:
        if field.required:
            raise OpError(EINVAL, f"missing argument '{name}'")
        if not field.nullable:
            raise OpError(EINVAL, f"argument '{name}' must not be nil")
        return
    why = _bad(field, value)
    if why is not None:
        raise OpError(EINVAL, why)


_SCHEMAS = {op: _compile(fields) for op, fields in SCHEMAS.items()}
# an op with sub-requests: its own fields and the sub-request's, checked in one pass
_SUBSCHEMAS = {op: (key, {sub: _compile(SCHEMAS[op] + fields) for sub, fields in table.items()})
               for op, (key, table) in SUBSCHEMAS.items()}


PLANS_MAX = 32         # key orders a checker compiles a plan for (then it checks as check())


def checker(op: str, sub: str | None = None,
            then: Callable[[dict[str, Any]], Any] | None = None
            ) -> Callable[[dict[str, Any]], Any]:
    """check(op, args) for the args of op's sub-request sub (its SUBSCHEMAS key's value), as
    one callable: what serving many requests of one form calls.  A client sends its
    requests' keys in one order, so the checker compiles a plan for each key order it
    meets (_plan: the args' values checked in one expression, half of _check's cost).
    then: a handler the checker calls with args once they pass, answering its result (a
    served request's check and handler as one call)."""
    schema = _SCHEMAS.get(op)
    if sub is not None and op in _SUBSCHEMAS:
        schema = _SUBSCHEMAS[op][1].get(sub, schema)
    if schema is None:
        return then or _unchecked
    plans: dict[tuple[Any, ...], Callable[[dict[str, Any]], Any]] = {}

    def check(args: dict[str, Any]) -> Any:
        keys = tuple(args)
        plan = plans.get(keys)
        if plan is None:
            if len(plans) >= PLANS_MAX:
                _check(schema, args)
                return then(args) if then else None
            plan = plans[keys] = _plan(schema, keys, then)
        return plan(args)
    return check


def _plan(schema: _Compiled, keys: tuple[Any, ...],
          then: Callable[[dict[str, Any]], Any] | None) -> Callable[[dict[str, Any]], Any]:
    """_check(schema, args) for args whose keys are keys, in that order: one generated
    expression that passes every value of its declared type, range and choices, and hands
    anything else (a None for a nullable one too) to _check, which says what is wrong;
    then, if given, then(args) answered."""
    fields, required = schema
    if not required <= set(keys):
        return partial(_check, schema)      # (it names the missing argument)
    names = [f"v{i}" for i in range(len(keys))]
    env: dict[str, Any] = {"_check": _check, "schema": schema, "isfinite": isfinite,
                           "then": then}
    terms = []
    for i, key in enumerate(keys):
        spec = fields.get(key) if type(key) is str else None
        if spec is None or spec[0] == "any":
            continue
        kind, lo, hi, choices, _field = spec
        v = names[i]
        if kind == "number":
            term = f"(type({v}) is int or type({v}) is float and isfinite({v}))"
        else:
            env[f"K{i}"] = kind
            term = f"type({v}) is K{i}"
        if kind in (int, "number"):
            if lo != -inf:
                term += f" and {v} >= {lo!r}"
            if hi != inf:
                term += f" and {v} <= {hi!r}"
        if choices is not None:
            env[f"C{i}"] = choices
            term += f" and {v} in C{i}"
        terms.append(term)
    unpack = f"{', '.join(names)}, = args.values()" if names else "pass"
    answer = "return then(args)" if then else "return"
    source = (f"def plan(args):\n    {unpack}\n"
              f"    if {' and '.join(terms) or 'True'}:\n        {answer}\n"
              f"    _check(schema, args)\n    {answer}\n")
    exec(source, env)       # (as namedtuple and dataclasses make their methods)
    plan: Callable[[dict[str, Any]], Any] = env["plan"]
    return plan


def _unchecked(args: dict[str, Any]) -> None:
    return None


def check(op: str, args: dict[str, Any]) -> None:
    """Raise OpError(EINVAL) naming the first argument of args that op's schema refuses.
    Ops without a schema (none declared yet) are left to their handler."""
    sub = _SUBSCHEMAS.get(op)
    if sub is not None:
        key, table = sub
        value = args.get(key)
        if type(value) is str and value in table:
            found = _CHECKERS.get((op, value))
            if found is None:
                found = _CHECKERS[op, value] = checker(op, value)
            found(args)
            return
    if op in _SCHEMAS:
        found = _CHECKERS.get(op)
        if found is None:
            found = _CHECKERS[op] = checker(op)
        found(args)


# (op, sub-request) or op -> its checker, made when first needed (only declared ones)
_CHECKERS: dict[Any, Callable[[dict[str, Any]], None]] = {}
