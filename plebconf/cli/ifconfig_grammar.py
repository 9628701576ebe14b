"""ifconfig's FreeBSD 14 grammar: options, keyword tables, and the batch of ops a command is.

Public API (used by the `ifconfig` tool and by the rc.conf executor)::

    parse_invocation(argv) -> Invocation      options + what kind of run (listing or config)
    ops_for(argv) -> ToolOps | None            the configuration ops; None for a listing
    ToolOps.message(index, errno) -> str       FreeBSD's error line for a failed batch op
    ToolOps.output(results) -> list[str]       stdout lines after a successful batch
    ToolOps.resolve_created(name) -> ToolOps   see `needs_unit` (ToolOps: plebconf.cli.toolops)

Everything here is pure: no connection to the stack.  The stack resolves names and applies
the kernel rules; FreeBSD's ifconfig itself leaves those to the kernel too.

Processing model (docs/freebsd-tools.md §1.2), as FreeBSD's ifconfig: after `IF [create] [AF]`,
words are
looked up left to right in one keyword table (af_inet, af_inet6, af_link, af_nd6 and the
cloners each register theirs in FreeBSD; here this module registers its keywords.Keyword
entries at the bottom, and ifconfig_clone registers the cloners' own).  Keyword effects
become ops in order; an unknown word is the address, a second one the destination; the
address delete/add is deferred to the end.  The whole command is one atomic batch, so a
failing command changes nothing (FreeBSD would keep what ran before the failure).

Beside this module: ifconfig_values (atoi, inet_aton, MAC text as FreeBSD reads them),
ifconfig_clone (vxlan's cloner parameters, and the create hooks, name rewrites and
end-of-command callbacks other cloners register) and one module per further cloner
(ifconfig_vlan, ifconfig_bridge, ifconfig_epair), each registering its own keywords.
"""
from __future__ import annotations

from plebproto.constants import (
    ALL_ERRNOS, EADDRNOTAVAIL, EEXIST, EINVAL, ENOENT, ENXIO, EPERM, IFF_ALLMULTI, IFF_DEBUG,
    IFF_LINK0, IFF_LINK1, IFF_LINK2, IFF_MONITOR, IFF_NOARP, IFF_PPROMISC, IFF_STATICARP,
    IFF_STICKYARP, IFF_UP, IN6_IFF_ANYCAST, IN6_IFF_AUTOCONF, IN6_IFF_DEPRECATED,
    IN6_IFF_PREFER_SOURCE, IN6_IFF_TENTATIVE, ND6_IFF_ACCEPT_RTADV, ND6_IFF_AUTO_LINKLOCAL,
    ND6_IFF_IFDISABLED, ND6_IFF_NO_DAD, ND6_IFF_NO_PREFER_IFACE, ND6_IFF_NO_RADR,
    ND6_IFF_PERFORMNUD, strerror,
)

from .common import ToolError
from .ifconfig_clone import CALLBACKS, CLONE_TABLE, _vxlan_check, create_hook, created_name
from . import ifconfig_bridge, ifconfig_epair, ifconfig_vlan
from . import ifconfig_lagg  # noqa: F401 (importing it registers lagg(4)'s keywords)
from .keywords import Keyword, register, table
from .toolops import ToolOps
from .ifconfig_values import (
    PROG, c_atoi, classful_plen, errx, inet_aton, inet_pton6, ntoa, parse_mac,
    random_mac,
)

# importing each cloner's module registered its keywords and hooks (keywords.register)
CLONER_MODULES = (ifconfig_vlan, ifconfig_bridge, ifconfig_epair)
AF_NAMES = ("inet", "inet6", "link", "ether", "lladdr")    # lladdr/link/ether: AF_LINK

# Registered options print their usage in reverse registration order (docs/freebsd-tools.md §1.1,
# §8.3).
_OPT_USAGE = "[-C] [-g groupname] [-L] "
USAGE = (
    f"usage: ifconfig [-j jail] [-f type:format] {_OPT_USAGE}interface address_family\n"
    "                [address [dest_address]] [parameters]\n"
    "       ifconfig [-j jail] interface create\n"
    f"       ifconfig [-j jail] -a {_OPT_USAGE}[-d] [-m] [-u] [-v] [address_family]\n"
    "       ifconfig [-j jail] -l [-d] [-u] [address_family]\n"
    f"       ifconfig [-j jail] {_OPT_USAGE}[-d] [-m] [-u] [-v]"
)


def usage(prefix: str = "") -> ToolError:
    return ToolError(prefix + USAGE, 1)


# ============================================================================ options
OPTIONS_WITH_ARG = set("Gfjg")
OPTIONS_FLAGS = set("adDklmnuvCL")


class Invocation:
    """One ifconfig run: its options and what it asks for.  (Plain classes here, not
    dataclasses: building a dataclass costs milliseconds of every one-shot run.)"""

    def __init__(self):
        self.mode = "list"          # list | names | cloners | group | config
        self.all = self.namesonly = self.uponly = self.downonly = False
        self.verbose = self.drivername = self.lifetimes = False
        self.capabilities = False   # -m
        self.matchgroup: str | None = None
        self.nogroup: str | None = None
        self.group: str | None = None       # -g without -a: list this group's members
        self.af: str | None = None          # listing filter: inet inet6 link ether
        self.formats: dict = {}             # -f type:format
        self.skipped_formats: list = []
        self.ifname: str | None = None
        self.words: list = []               # configuration words after IF


def _set_formats(inv: Invocation, text: str) -> None:
    """-f type:format[,type:format...]; FreeBSD prints and skips an entry without a colon."""
    for item in text.split(","):
        kind, sep, fmt = item.partition(":")
        if not sep:
            inv.skipped_formats.append(f"Skipping invalid format: {item}")
            continue
        inv.formats[kind] = fmt


def parse_invocation(argv: list[str]) -> Invocation:
    """getopt("G:adDf:j:klmnuvCLg:"), stopping at the first non-option as FreeBSD's does,
    then FreeBSD main()'s checks of what remains."""
    inv = Invocation()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        j = 1
        while j < len(arg):
            opt = arg[j]
            if opt in OPTIONS_WITH_ARG:
                value = arg[j + 1:]
                if not value:
                    i += 1
                    if i >= len(argv):
                        raise usage(f"{PROG}: option requires an argument -- {opt}\n")
                    value = argv[i]
                _take_option(inv, opt, value)
                break
            if opt not in OPTIONS_FLAGS:
                raise usage(f"{PROG}: illegal option -- {opt}\n")
            _take_option(inv, opt, None)
            if inv.mode == "cloners":       # -C lists and exits as soon as it is seen
                return inv
            j += 1
        i += 1
        if inv.mode == "group":             # -g without -a prints members and exits
            return inv
    rest = argv[i:]
    if inv.namesonly and (inv.all or inv.capabilities):
        raise usage()
    if inv.uponly and inv.downonly:
        raise usage()
    if inv.nogroup is not None and not inv.all:
        raise usage()
    if inv.all or inv.namesonly:
        if len(rest) > 1:
            raise usage()
        if rest:
            if rest[0] not in AF_NAMES:
                raise usage(f"{PROG}: Address family '{rest[0]}' unknown.\n")
            inv.af = _filter_af(rest[0])
        inv.mode = "names" if inv.namesonly else "list"
        return inv
    if not rest:                            # no interface: same as -a
        inv.all = True
        return inv
    inv.ifname, words = rest[0], rest[1:]
    if words and words[0] not in ("create", "plumb") and words[0] in AF_NAMES and \
            len(words) == 1:
        inv.af = _filter_af(words[0])       # `ifconfig IF AF`: that family of IF
        words = []
    inv.words = words
    inv.mode = "config" if words else "list"
    return inv


def _filter_af(name: str) -> str:
    """Listing filter: `ether` (Ethernet-like only) differs from `link`/`lladdr`."""
    return "link" if name == "lladdr" else name


def _config_af(name: str) -> str:
    """Configuration: ether, lladdr and link are all AF_LINK."""
    return "link" if name in ("ether", "lladdr") else name


def _take_option(inv: Invocation, opt: str, value: str | None) -> None:
    if opt == "a":
        inv.all = True
    elif opt == "l":
        inv.namesonly = True
    elif opt == "u":
        inv.uponly = True
    elif opt == "d":
        inv.downonly = True
    elif opt == "v":
        inv.verbose = True
    elif opt == "D":
        inv.drivername = True
    elif opt == "L":
        inv.lifetimes = True
    elif opt == "m":
        inv.capabilities = True
    elif opt == "C":
        inv.mode = "cloners"
    elif opt == "f":
        _set_formats(inv, value)
    elif opt == "G":
        inv.nogroup = value
    elif opt == "g":
        if inv.all or inv.namesonly:        # a filter only after -a (or -l)
            inv.matchgroup = value
        else:
            inv.mode, inv.group = "group", value
    elif opt == "j":
        raise errx(f'jail "{value}" not found')     # the stack has no jails
    # -k (keys) and -n (no module loading) change nothing here


# ============================================================================ ops, messages
def _tunnel_end(word: str) -> tuple[str, str]:
    """One end of `tunnel SRC DST` as getaddrinfo(3) reads a number: (family, wire text);
    anything else would be a host name, which this ifconfig does not look up."""
    if ":" in word and inet_pton6(word):
        return "inet6", word
    value = inet_aton(word)
    if value is not None:
        return "inet", ntoa(value)
    # gai_strerror(EAI_NONAME)
    raise errx("error in parsing address string: hostname nor servname provided, "
               "or not known")


class Label:
    """What FreeBSD's message names when an op fails, and how it words the errno.
    perror: Perror() style (ENXIO/EPERM get ifconfig's own lowercase words); create:
    SIOCIFCREATE2 (EEXIST is "interface X already exists"); errx: errno -> the whole
    message, for what FreeBSD's ifconfig finds out itself before any ioctl.
    warn: the op only warns when it fails and the command goes on (FreeBSD's warn() or
    warnx() and no exit: in_set_tunnel, setlaggport), its message `ifconfig: WARN: strerror`
    and the exit status warn_status (setlaggport's exit_code = 1; warn() alone leaves 0);
    the op is sent tolerating any errno but ENXIO (WARNS: a missing interface is still
    ifconfig's own "does not exist"), and quiet ones are not warned about."""
    __slots__ = ("what", "perror", "create", "errx", "warn", "warn_status", "quiet")

    def __init__(self, what: str, perror: bool = False, create: bool = False,
                 errx: dict | None = None, warn: str | None = None, warn_status: int = 0,
                 quiet: tuple[int, ...] = ()):
        self.what, self.perror, self.create = what, perror, create
        self.errx = errx or {}
        self.warn, self.warn_status, self.quiet = warn, warn_status, quiet

    def __repr__(self):
        return f"Label({self.what!r}, perror={self.perror}, create={self.create})"

    def _key(self):
        return (self.what, self.perror, self.create, self.errx, self.warn, self.warn_status,
                self.quiet)

    def __eq__(self, other):
        return isinstance(other, Label) and self._key() == other._key()

    @property
    def warns(self) -> bool:
        """Whether the op only warns when it fails (then warning() words it)."""
        return self.warn is not None

    def warning(self, result) -> tuple[str, int] | None:
        """(stderr line, exit status) for a warn op's result, if it failed and says so."""
        if self.warn is None or type(result) is not dict or "errno" not in result:
            return None
        if result["errno"] in self.quiet:
            return None
        return f"{PROG}: {self.warn}: {strerror(result['errno'])}", self.warn_status

    __hash__ = None     # errx is a mutable dict


# Cloners a FreeBSD 14 kernel has (ifconfig -C with the usual modules loaded) that this stack
# does not: creating one is refused by name rather than with a bare EINVAL, so a real rc.conf
# says what is missing.
# (vlan, bridge and epair are left out: the stack gains those cloners separately.)
FREEBSD_CLONERS = ("disc", "edsc", "enc", "gif", "gre", "ipsec", "lagg", "me", "ovpn", "pflog",
                   "pfsync", "stf", "tun", "tap", "vxlan", "wg", "wlan", "lo", "geneve")


# what an op that only warns tolerates (Label.warn)
WARNS = [e for e in ALL_ERRNOS if e != ENXIO]


def unsupported_cloner(name: str) -> str | None:
    """The FreeBSD driver a create of `name` asks for when the stack has no such cloner."""
    from plebproto.iftypes import CLONERS
    base = name.rstrip("0123456789")
    if base in FREEBSD_CLONERS and base not in CLONERS:
        return base
    return None


def message(ops: ToolOps, index: int, errno: int) -> str:
    """FreeBSD's text for op `index` failing with `errno` (docs/freebsd-tools.md §1.5); the
    `wording` of ifconfig's ToolOps (ops.message(index, errno))."""
    label = ops.labels[index]
    args = ops.ops[index][1]
    if errno in label.errx:
        return f"{PROG}: {label.errx[errno]}"
    if label.create:
        # ifcreate_ioctl: "already exists" only for a create without parameters
        # (ifr_data NULL); with them, err(1, "SIOCIFCREATE2 (%s)")
        if errno == EEXIST and "params" not in args:
            return f"{PROG}: interface {args['ifname']} already exists"
        if errno == EINVAL:
            driver = unsupported_cloner(args["ifname"])
            if driver is not None:
                return f"{PROG}: {args['ifname']}: {driver}(4) is not supported"
    elif errno == ENXIO and args.get("ifname") == ops.ifname:
        # FreeBSD checks that the interface exists before running anything
        return f"{PROG}: interface {ops.ifname} does not exist"
    if label.perror and errno == ENXIO:
        text = "no such interface"
    elif label.perror and errno == EPERM:
        text = "permission denied"
    else:
        text = strerror(errno)
    return f"{PROG}: {label.what}: {text}"


def ops_for(argv: list[str]) -> ToolOps | None:
    """The batch for `ifconfig ARGV...` (argv: the words after `ifconfig`), or None when the
    command is a listing.  Raises ToolError for what FreeBSD's ifconfig rejects itself."""
    inv = parse_invocation(argv)
    if inv.mode != "config":
        return None
    return Command(inv.ifname).build(inv.words)


def _ioctl(req: str, ifname: str, **args) -> dict:
    return {"req": req, "ifname": ifname, **args}


class Command:
    """Builds the ops of `ifconfig IF WORDS...` (ifconfig.c's ifconfig() loop)."""

    def __init__(self, ifname: str):
        self.orig = ifname
        self.ifname = ifname            # changes with `name NEW`
        self.ops: list = []
        self.labels: list = []
        self.warnings: list = []
        self.af = "inet"
        # the deferred address state (ifconfig.c's setaddr/clearaddr/newaddr/doalias)
        self.addr: str | None = None
        self.dst: str | None = None
        self.broadcast: str | None = None
        self.plen: int | None = None
        self.setmask = False
        self.doalias = 0
        self.setaddr = False
        self.rid: str | None = None     # address to delete (-alias)
        self.in6flags = 0
        self.eui64 = False
        self.lifetimes: dict = {}
        self.print_name: str | None = None
        self.print_created: int | None = None
        self.needs_unit = False
        self.params: dict = {}
        self.creating = False
        self.more_after_create = False

    def emit(self, op: list, label: Label) -> None:
        self.ops.append(op)
        self.labels.append(label)

    # -- the loop ----------------------------------------------------------------------------
    def build(self, words: list[str]) -> ToolOps:
        i = 0
        if words and words[0] in ("create", "plumb"):
            self.creating = True
            self.more_after_create = len(words) > 1 and self.ifname[-1:].isdigit()
            i = 1
        if not self.creating and words and words[0] in AF_NAMES:
            self.af = _config_af(words[0])
            i += 1
        keywords, clone_keywords = table(TABLE), table(CLONE_TABLE)
        while i < len(words):
            word = words[i]
            if self.creating:
                # FreeBSD's cmd_lookup(name, iscreate): only clone commands until created
                kw = clone_keywords.get(word)
                if kw is None:
                    # the first non-clone word creates the interface; an AF may follow
                    self._create()
                    if word in AF_NAMES:
                        self.af = _config_af(word)
                        i += 1
                    continue
            else:
                kw = keywords.get(word)
            if kw is None:
                self._address(word)
                i += 1
                continue
            if kw.nargs == 1 and i + 1 >= len(words):
                raise errx(f"'{word}' requires argument")
            if kw.nargs == 2 and i + 2 >= len(words):
                raise errx(f"'{word}' requires 2 arguments")
            kw.apply(self, words[i + 1:i + 1 + kw.nargs])
            i += 1 + kw.nargs
        if self.creating:
            self._create()
        for callback in CALLBACKS:      # callback_register(): after the words
            callback(self)
        warn_at = len(self.ops)
        self._postproc()
        self._deferred_address()
        # ops after a unit-less create name the interface by its cloner for now
        self.needs_unit = (self.print_created is not None
                           and len(self.ops) > self.print_created + 1)
        return ToolOps(self.ops, self.labels,
                       [self.print_name] if self.print_name is not None else None,
                       self.warnings, warn_at=warn_at, ifname=self.orig,
                       print_created=self.print_created, needs_unit=self.needs_unit,
                       wording=message)

    # -- create ------------------------------------------------------------------------------
    def _create(self) -> None:
        self.creating = False
        name = self.ifname
        args = _ioctl("SIOCIFCREATE2", name)
        hook = create_hook(name)
        if name.startswith("vxlan") and self.params:
            _vxlan_check(self.params)
            args["params"] = self.params
        elif hook is not None:
            hook(self, args)        # the cloner's own create (vlan_create, ...)
        op = ["ioctl", args]
        if self.more_after_create:
            # FreeBSD skips `create` for an interface that exists when more words follow
            # (only a lone `IF create` says it exists); a clone that exists answers EEXIST
            op.append([EEXIST])
        self.emit(op, Label(f"SIOCIFCREATE2 ({name})", create=True))
        if not name[-1:].isdigit():
            # the kernel picks the unit and ifconfig prints the name it got
            self.print_created = len(self.ops) - 1
        elif created_name(name) != name:
            # a name the kernel changes (epair0 -> epair0a) is printed, and is the
            # interface the words after it configure
            self.ifname = self.print_name = created_name(name)

    # -- keyword handlers --------------------------------------------------------------------
    def k_flags(self, word, bit):
        args = _ioctl("SIOCSIFFLAGS", self.ifname, **({"set": bit} if bit > 0 else
                                                       {"clear": -bit}))
        self.emit(["ioctl", args], Label(word, perror=True))

    def k_cap(self, word, bit):
        args = _ioctl("SIOCSIFCAP", self.ifname, **({"set": bit} if bit > 0 else
                                                     {"clear": -bit}))
        self.emit(["ioctl", args], Label(word, perror=True))

    def k_nd6(self, word, bit):
        args = _ioctl("SIOCSIFINFO_IN6", self.ifname, **({"set": bit} if bit > 0 else
                                                          {"clear": -bit}))
        self.emit(["ioctl", args], Label("ioctl(SIOCSIFINFO_IN6)"))

    def k_in6flag(self, word, bit):
        if bit > 0:
            self.in6flags |= bit
        else:
            self.in6flags &= ~-bit

    def k_eui64(self, word, _):
        # the stack fills in the link-local's interface identifier (see syscalls.aifaddr6)
        self.eui64 = True

    def k_lifetime(self, word, which, value):
        self.lifetimes[which] = c_atoi(value)

    def k_mtu(self, word, _, value):
        self.emit(["ioctl", _ioctl("SIOCSIFMTU", self.ifname, mtu=c_atoi(value))],
                  Label("ioctl SIOCSIFMTU (set mtu)"))

    def k_metric(self, word, _, value):
        self.emit(["ioctl", _ioctl("SIOCSIFMETRIC", self.ifname, metric=c_atoi(value))],
                  Label("ioctl SIOCSIFMETRIC (set metric)"))

    def k_descr(self, word, const, value=None):
        text = const if value is None else value
        self.emit(["ioctl", _ioctl("SIOCSIFDESCR", self.ifname, descr=text)],
                  Label("ioctl SIOCSIFDESCR (set descr)"))

    def k_name(self, word, _, value):
        self.emit(["ioctl", _ioctl("SIOCSIFNAME", self.ifname, newname=value)],
                  Label("ioctl SIOCSIFNAME (set name)"))
        self.ifname = self.print_name = value

    def k_destroy(self, word, _):
        self.emit(["ioctl", _ioctl("SIOCIFDESTROY", self.ifname)], Label("SIOCIFDESTROY"))

    def k_group(self, word, sign, value):
        # ifgroup.c: names may not end in a digit; joining twice / leaving a group one is
        # not in are not errors (EEXIST / ENOENT ignored)
        if sign > 0:
            if value and value[-1].isdigit():
                raise errx("setifgroup: group names may not end in a digit")
            if len(value) >= 16:
                raise errx("setifgroup: group name too long")
            op = ["ioctl", _ioctl("SIOCAIFGROUP", self.ifname, group=value), [EEXIST]]
            what = "SIOCAIFGROUP"
        else:
            if value and value[-1].isdigit():
                raise errx("unsetifgroup: group names may not end in a digit")
            if len(value) >= 16:
                raise errx("unsetifgroup: group name too long")
            op = ["ioctl", _ioctl("SIOCDIFGROUP", self.ifname, group=value), [ENOENT]]
            what = "SIOCDIFGROUP"
        self.emit(op, Label(what))

    def k_unsupported(self, word, req, *values):
        """Keywords FreeBSD has but the stack does not implement: sent as FreeBSD would, so
        the stack's refusal reads like the kernel's."""
        self.emit(["ioctl", _ioctl(req, self.ifname, value=list(values))], Label(req))

    def k_tunnel(self, word, _, src, dst):
        """settunnel(): both ends resolved by getaddrinfo (numeric here: no DNS), of one
        family, set by that family's af_settunnel: SIOCSIFPHYADDR (in_set_tunnel) or
        SIOCSIFPHYADDR_IN6 (in6_set_tunnel)."""
        ends = [_tunnel_end(src), _tunnel_end(dst)]
        if ends[0][0] != ends[1][0]:
            raise errx("source and destination address families do not match")
        req = "SIOCSIFPHYADDR_IN6" if ends[0][0] == "inet6" else "SIOCSIFPHYADDR"
        # af_settunnel only warn()s when the ioctl fails: the line goes on, the status stays
        self.emit(["ioctl", _ioctl(req, self.ifname, value=[ends[0][1], ends[1][1]]),
                   WARNS], Label(req, warn=req))

    def driver_ioctl(self, req, what, **params):
        """A driver ioctl (SIOCSDRVSPEC for a cloner parameter on an existing interface):
        sent as FreeBSD would, failing under FreeBSD's name for it (what)."""
        self.emit(["ioctl", _ioctl(req, self.ifname, **params)], Label(what))

    def k_jail(self, word, _, value):
        raise errx(f'jail "{value}" not found')

    # -- addresses ---------------------------------------------------------------------------
    def k_alias(self, word, param):
        # notealias(): `X -alias` turns the address just given into the one to delete
        if self.setaddr and self.doalias == 0 and param < 0:
            self.rid, self.addr = self.addr, None
        self.doalias = param

    def _address(self, word: str) -> None:
        """An unknown word: the address, then the destination (setifaddr/setifdstaddr)."""
        if self.setaddr:
            self.dst = self._parse_addr(word, "dst")
            if self.af == "inet":
                self.broadcast = self.dst      # one field: broadcast or p2p destination
            return
        self.setaddr = True
        value = self._parse_addr(word, "addr")
        if self.doalias >= 0:
            self.addr = value
        else:
            self.rid = value

    def _parse_addr(self, word: str, which: str) -> str:
        if self.af == "link":
            if which != "addr":
                raise errx("can't set link-level netmask or broadcast")
            mac = random_mac() if word == "random" else parse_mac(word)
            if mac is None:
                raise errx("malformed link-level address")
            return mac
        if self.af == "inet6":
            text = word
            if which == "addr" and "/" in word:
                text, _, width = word.partition("/")
                self.plen = _prefix6(width)
            if not inet_pton6(text):
                raise errx(f"{text}: bad value")
            return text
        text = word
        if which == "addr" and "/" in word:
            text, _, width = word.rpartition("/")
            if not width[:1].isdigit():
                raise errx(f"{word}: bad value (width invalid)")
            if not width.isdigit():
                raise errx(f"{word}: bad value (width invalid)")
            if int(width) > 32:
                raise errx(f"{word}: bad value (width too large)")
            self.plen = int(width)
            self.setmask = True
        value = inet_aton(text)
        if value is None:
            # FreeBSD would also try hosts(5) and networks(5) names: numeric only here
            raise errx(f"{text}: bad value")
        return ntoa(value)

    def k_netmask(self, word, _, value):
        if self.af == "link":
            raise errx("can't set link-level netmask or broadcast")
        if self.af == "inet6":
            raise _inet6_refuses(word)
        mask = inet_aton(value)
        if mask is None:
            raise errx(f"{value}: bad value")
        # 14.x keeps only the popcount (docs/freebsd-tools.md §1.2)
        self.plen = bin(mask).count("1")
        self.setmask = True

    def k_prefixlen(self, word, _, value):
        if self.af == "inet6":
            self.plen = _prefix6(value)
        elif self.af == "inet":
            if not value.isdigit() or int(value) > 32:
                raise errx(f"{value}: bad value")
            self.plen = int(value)
            self.setmask = True

    def k_broadcast(self, word, _, value):
        if self.af == "link":
            raise errx("can't set link-level netmask or broadcast")
        if self.af == "inet6":
            raise _inet6_refuses(word)
        if self.af == "inet":
            addr = inet_aton(value)
            if addr is None:
                raise errx(f"{value}: bad value")
            self.broadcast = ntoa(addr)

    def _postproc(self) -> None:
        """in_postproc: the no-mask warning; the historical default mask is used."""
        if self.af == "inet" and self.addr is not None and not self.setmask:
            # FreeBSD skips the warning for loopback and p2p interfaces, which it knows by
            # their flags; without a connection we know loopbacks by name (no p2p here)
            if not self.orig.startswith("lo"):
                self.warnings.append(f"{PROG}: WARNING: setting interface address without "
                                     "mask is deprecated,\ndefault mask may not be correct.")
            self.plen = classful_plen(inet_aton(self.addr))

    def _deferred_address(self) -> None:
        name = self.ifname
        if self.af == "link":
            if self.addr is not None:
                self.emit(["ioctl", _ioctl("SIOCSIFLLADDR", name, lladdr=self.addr)],
                          Label("ioctl (SIOCAIFADDR)", perror=True))
            return
        clear = self.doalias < 0 or (self.setaddr and self.doalias == 0)
        add = self.doalias >= 0 and (self.setaddr or self.setmask)
        if self.af == "inet":
            if clear:
                args = _ioctl("SIOCDIFADDR", name)
                if self.rid is not None:
                    args["addr"] = self.rid
                # no previous address is not an error, except when deleting
                op = ["ioctl", args] if self.doalias < 0 else ["ioctl", args, [EADDRNOTAVAIL]]
                self.emit(op, Label("ioctl (SIOCDIFADDR)", perror=True))
            if add:
                args = _ioctl("SIOCAIFADDR", name)
                if self.addr is not None:
                    args["addr"] = self.addr
                args["plen"] = self.plen if self.plen is not None else 32
                if self.broadcast is not None:
                    args["broadcast"] = self.broadcast
                if self.dst is not None:
                    args["dstaddr"] = self.dst
                self.emit(["ioctl", args], Label("ioctl (SIOCAIFADDR)", perror=True))
            return
        # inet6: the "delete first" step deletes the address being added (docs/freebsd-tools.md
        # §1.3)
        if clear:
            target = self.rid if self.doalias < 0 else self.addr
            args = _ioctl("SIOCDIFADDR_IN6", name, addr=target or "::")
            op = ["ioctl", args] if self.doalias < 0 else ["ioctl", args, [EADDRNOTAVAIL]]
            self.emit(op, Label("ioctl (SIOCDIFADDR)", perror=True))
        if add:
            args = _ioctl("SIOCAIFADDR_IN6", name, addr=self.addr or "::",
                          plen=64 if self.plen is None else self.plen)
            if self.in6flags:
                args["flags"] = self.in6flags
            args.update(self.lifetimes)
            label = Label("ioctl (SIOCAIFADDR)", perror=True)
            if self.eui64:
                args["eui64"] = True
                label.errx[EADDRNOTAVAIL] = "could not determine link local address"
            if self.dst is not None:
                args["dstaddr"] = self.dst
            self.emit(["ioctl", args], label)


def _prefix6(text: str) -> int:
    if not text.isdigit() or int(text) > 128:
        raise errx(f"{text}: bad value")
    return int(text)


def _inet6_refuses(word: str) -> ToolError:
    """`netmask` and `broadcast` have no meaning for inet6.  14's netlink af_inet6.c has no
    slot for them (sin6tab_nl[MASK] is NULL, BRDADDR is index 4 of a 4-entry table), so
    in6_getaddr() crashed on them (FreeBSD bug 286910); the fix refuses them with errx(1),
    as sbin/ifconfig/tests/inet6.sh checks: `ifconfig: netmask: invalid option for inet6`,
    exit 1, for adding and for -alias alike.  Refused before anything is applied."""
    return errx(f"{word}: invalid option for inet6")


# ============================================================================ keyword tables
# ifconfig.c, af_inet.c, af_inet6.c, af_link.c, af_nd6.c and ifmedia/ifgroup register these
# with cmd_register(); the cloners' (ifconfig_clone) register into the same TABLE and into
# CLONE_TABLE, FreeBSD's clone commands (looked up only during `create`).
TABLE = "ifconfig"
C = Command


def _on_off(names: dict, handler, *, no_minus=()) -> list:
    """NAME sets the bit, -NAME clears it (FreeBSD's DEF_CMD(name, bit) / (-name, -bit))."""
    return ([Keyword(n, 0, handler, b) for n, b in names.items()]
            + [Keyword("-" + n, 0, handler, -b) for n, b in names.items()
               if n not in no_minus])


_FLAGS = {"up": IFF_UP, "debug": IFF_DEBUG, "promisc": IFF_PPROMISC,
          "allmulti": IFF_ALLMULTI, "link0": IFF_LINK0, "link1": IFF_LINK1,
          "link2": IFF_LINK2, "monitor": IFF_MONITOR, "staticarp": IFF_STATICARP,
          "stickyarp": IFF_STICKYARP}
_CAPS = {"rxcsum": 0x1, "txcsum": 0x2, "netcons": 0x4, "vlanmtu": 0x8, "vlanhwtag": 0x10,
         "polling": 0x40, "vlanhwcsum": 0x80, "tso4": 0x100, "tso6": 0x200, "tso": 0x300,
         "lro": 0x400, "wol_ucast": 0x800, "wol_mcast": 0x1000, "wol_magic": 0x2000,
         "toe": 0xC000, "vlanhwfilter": 0x10000, "vlanhwtso": 0x40000, "netmap": 0x100000,
         "rxcsum6": 0x200000, "txcsum6": 0x400000, "txrtlmt": 0x1000000,
         "hwrxtstmp": 0x2000000, "mextpg": 0x4000000, "txtls": 0x18000000,
         "vxlanhwcsum": 0x20000000, "vxlanhwtso": 0x40000000}
_ND6 = {"nud": ND6_IFF_PERFORMNUD, "accept_rtadv": ND6_IFF_ACCEPT_RTADV,
        "ifdisabled": ND6_IFF_IFDISABLED, "auto_linklocal": ND6_IFF_AUTO_LINKLOCAL,
        "no_radr": ND6_IFF_NO_RADR, "no_prefer_iface": ND6_IFF_NO_PREFER_IFACE,
        "no_dad": ND6_IFF_NO_DAD}
_IN6_FLAGS = {"anycast": IN6_IFF_ANYCAST, "tentative": IN6_IFF_TENTATIVE,
              "deprecated": IN6_IFF_DEPRECATED, "autoconf": IN6_IFF_AUTOCONF,
              "prefer_source": IN6_IFF_PREFER_SOURCE}

register(
    TABLE,
    # `down` is -up's spelling; `arp` clears NOARP and `-arp` sets it
    *_on_off(_FLAGS, C.k_flags, no_minus=("up",)),
    Keyword("down", 0, C.k_flags, -IFF_UP),
    Keyword("arp", 0, C.k_flags, -IFF_NOARP), Keyword("-arp", 0, C.k_flags, IFF_NOARP),
    *_on_off(_CAPS, C.k_cap),
    *_on_off(_ND6, C.k_nd6),
    *_on_off(_IN6_FLAGS, C.k_in6flag, no_minus=("anycast",)),
    Keyword("mtu", 1, C.k_mtu),
    Keyword("metric", 1, C.k_metric),
    Keyword("description", 1, C.k_descr), Keyword("descr", 1, C.k_descr),
    Keyword("-description", 0, C.k_descr, ""), Keyword("-descr", 0, C.k_descr, ""),
    Keyword("name", 1, C.k_name),
    Keyword("netmask", 1, C.k_netmask),
    Keyword("broadcast", 1, C.k_broadcast),
    Keyword("prefixlen", 1, C.k_prefixlen),
    Keyword("pltime", 1, C.k_lifetime, "pltime"), Keyword("vltime", 1, C.k_lifetime, "vltime"),
    Keyword("eui64", 0, C.k_eui64),
    Keyword("alias", 0, C.k_alias, 1), Keyword("add", 0, C.k_alias, 1),
    Keyword("-alias", 0, C.k_alias, -1), Keyword("delete", 0, C.k_alias, -1),
    Keyword("remove", 0, C.k_alias, -1),
    Keyword("destroy", 0, C.k_destroy), Keyword("unplumb", 0, C.k_destroy),
    Keyword("group", 1, C.k_group, 1), Keyword("-group", 1, C.k_group, -1),
    Keyword("tunnel", 2, C.k_tunnel),
    Keyword("-tunnel", 0, C.k_unsupported, "SIOCDIFPHYADDR"),
    Keyword("deletetunnel", 0, C.k_unsupported, "SIOCDIFPHYADDR"),
    *[Keyword(n, 1, C.k_unsupported, "SIOCSIFMEDIA")
      for n in ("media", "mediaopt", "-mediaopt", "mode", "inst", "instance")],
    Keyword("vnet", 1, C.k_jail), Keyword("-vnet", 1, C.k_jail),
)
