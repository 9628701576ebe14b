"""The llmsg family: neighbour entries, ARP (af inet) and NDP (af inet6): RTM_ADD, RTM_DELETE,
RTM_GET (arp(8), ndp(8)); their dump, NET_RT_FLAGS, is in dumps.py."""
from __future__ import annotations

from plebproto.constants import EINVAL, ESRCH, RTF_STATIC
from plebproto.errors import OpError

from ..state.inet import strip_scope
from .args import af_arg, arg
from .dispatch import pick

# message type -> LlmsgOps method
LLMSGS = {"RTM_ADD": "ll_add", "RTM_DELETE": "ll_delete", "RTM_GET": "ll_get"}


class LlmsgOps:
    """The llmsg handlers, for a class with self.stack, self.llmsgs (LLMSGS bound) and the
    address parsers of args.Addresses (Syscalls)."""

    llmsgs: dict

    def llmsg(self, args):
        return pick(self.llmsgs, args.get("type"), "neighbour message type")(args)

    def ll_add(self, args):
        """{af, addr, mac, flags?, temp?, ifname?}"""
        af = af_arg(args)
        text = arg(args, "mac", str)
        try:
            mac = bytes(int(part, 16) for part in text.split(":"))
        except ValueError:
            raise OpError(EINVAL) from None
        entry = self.stack.ll_set(af, strip_scope(self.addr(af, args.get("addr")))[0], mac,
                                  arg(args, "flags", int, RTF_STATIC),
                                  arg(args, "temp", bool, False), arg(args, "ifname", str, None))
        return self.stack.ll_info(entry)

    def ll_delete(self, args):
        af = af_arg(args)
        entry = self.stack.ll_delete(af, strip_scope(self.addr(af, args.get("addr")))[0],
                                     arg(args, "ifname", str, None))
        return self.stack.ll_info(entry)

    def ll_get(self, args):
        af = af_arg(args)
        addr = strip_scope(self.addr(af, args.get("addr")))[0]
        for ifp in self.stack.ifaces:
            entry = self.stack.ll_table(af, ifp).get(addr)
            if entry is not None:
                return self.stack.ll_info(entry)
        raise OpError(ESRCH)
