"""Read rc.conf files the way sh(1) reads them, for the subset rc.conf uses.

Public API::

    parse_files(paths) -> RcVars        # rc.conf, then rc.conf.local, ...; unreadable files skipped
    parse_text(text, file="rc.conf", into=None) -> RcVars
    eval_words(text, rcvars) -> list[str]   # what `eval cmd $value` would see as arguments
    RcVars: Mapping[str, Value]; Value(name, text, file, line) = where the variable was last set
    RcSyntaxError(file, line, message); str() is "file:line: message"

Accepted (what real rc.conf files contain): ``name=value`` assignments, several per
line or separated by ``;``; single quotes (literal), double quotes (``\\`` escapes
``$ ` " \\`` and newline), backslash escapes, backslash-newline continuation, ``#``
comments at the start of a word, ``$name``/``${name}`` expansion of variables set
earlier (unset => empty), ``${name-w}``, ``${name:-w}``, ``${name+w}``, ``${name:+w}``.

Tolerated like sh tolerates them when rc.subr sources the file (sh reports a failing
command and goes on): a command that is not an assignment (a pasted prompt, a bare word,
``a=1 cmd`` whose ``a=1`` only sets cmd's environment) is skipped with a warning naming
``file:line``; ``export``/``readonly name=value`` set the variable.  A value holding a
command substitution (``$(...)``, backquotes) is left unset with a warning: sh would run
the command, plebconf does not.  Such a variable is recorded in ``RcVars.unparsed``, and
reading it where the network rc.d scripts need it (plan's Context, eval_words) is an error
citing where it was set: only the variables the network scripts read must parse.
RcVars.warnings holds the warnings, ``file:line: message``.

Rejected with an error naming ``file:line``: reserved words (``if``/``for``/...: a
compound command decides which assignments run), arithmetic, positional/special
parameters, redirections, pipes, background jobs, subshells, unterminated quotes.
A value is stored after expansion (like sh); it is not field-split, because an
assignment's value never is.

``eval_words`` is the second half of rc's ``eval ifconfig IF ${ifconfig_IF}``:
the stored text is lexed again, quotes honoured, ``$var`` expanded from the
rc.conf variables and unquoted expansions field-split at blanks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["Value", "RcVars", "RcSyntaxError", "parse_files", "parse_text", "eval_words"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
_BLANKS = " \t"
# Characters that end an unquoted word: blanks, newline and sh operators.
_METACHARS = " \t\n;&|<>()"
SUBSTITUTION = "command substitution is not supported"
# Builtins whose name=value arguments set variables (sh(1)); their other words are names.
_SETTING_BUILTINS = frozenset({"export", "readonly"})
_RESERVED = {
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac",
    "while", "until", "for", "in", "{", "}", "!",
}


@dataclass(frozen=True)
class Value:
    """One variable: its final text and where it was (last) set."""

    name: str
    text: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class RcSyntaxError(ValueError):
    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


class _Unparsable(Exception):
    """A value sh would compute by running a command (message: why it cannot be known)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RcVars(Mapping[str, Value]):
    """The variables of the rc.conf files read so far, name -> Value."""

    def __init__(self, values: Iterable[Value] = ()):
        self._values: dict[str, Value] = {}
        self.files: list[str] = []  # files actually read, in order
        self.warnings: list[str] = []   # "file:line: message": what sh would run, skipped
        # name -> (file, line, message): set from a command's output, left unset here
        self.unparsed: dict[str, tuple[str, int, str]] = {}
        for v in values:
            self.set(v)

    def set(self, value: Value) -> None:
        # Re-insert so iteration order is "order of last assignment".
        self._values.pop(value.name, None)
        self.unparsed.pop(value.name, None)
        self._values[value.name] = value

    def leave_unset(self, name: str, file: str, line: int, message: str) -> None:
        """name's value would come from running a command: unset, and remembered as such."""
        self._values.pop(name, None)
        self.unparsed[name] = (file, line, message)
        self.warnings.append(f"{file}:{line}: ${name}: {message}; ${name} is left unset")

    def unparsed_error(self, name: str) -> RcSyntaxError:
        """The error for reading an unparsed variable where its value matters."""
        file, line, message = self.unparsed[name]
        return RcSyntaxError(file, line, f"${name}: {message}")

    def text(self, name: str, default: str | None = None) -> str | None:
        v = self._values.get(name)
        return default if v is None else v.text

    def __getitem__(self, name: str) -> Value:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RcVars({list(self._values.values())!r})"


# --- word structure -----------------------------------------------------------------------
# A word is a list of parts; expansion happens later, so `a=1 b=$a` sees a=1.

@dataclass(frozen=True)
class _Lit:
    text: str
    quoted: bool


@dataclass(frozen=True)
class _Param:
    name: str
    op: str | None  # None, "-", ":-", "+", ":+"
    arg: tuple | None  # parts of the word after the operator
    quoted: bool


@dataclass(frozen=True)
class _Unsupported:
    """A command substitution: its text is skipped, its value unknown."""
    message: str


@dataclass
class _Word:
    parts: list
    line: int


class _Lexer:
    """Turns sh text into commands (lists of _Word); expansion is deferred."""

    def __init__(self, text: str, file: str, line: int = 1):
        self.s = text
        self.i = 0
        self.file = file
        self.line = line

    def error(self, message: str, line: int | None = None) -> RcSyntaxError:
        return RcSyntaxError(self.file, self.line if line is None else line, message)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def advance(self, n: int = 1) -> str:
        chunk = self.s[self.i:self.i + n]
        self.line += chunk.count("\n")
        self.i += n
        return chunk

    def skip_continuations(self) -> None:
        while self.peek() == "\\" and self.peek(1) == "\n":
            self.advance(2)

    # commands ---------------------------------------------------------------------------
    def commands(self) -> Iterator[list[_Word]]:
        words: list[_Word] = []
        while True:
            self.skip_continuations()
            c = self.peek()
            if c == "":
                if words:
                    yield words
                return
            if c in _BLANKS:
                self.advance()
            elif c == "\n" or c == ";":
                if c == ";" and not words:
                    raise self.error("syntax error: unexpected ';'")
                self.advance()
                if words:
                    yield words
                    words = []
            elif c == "#":  # a comment: '#' is at a word start here
                while self.peek() not in ("", "\n"):
                    self.advance()
            elif c in "&|<>()":
                raise self.error(f"unsupported shell syntax '{c}'")
            else:
                words.append(self.word(_METACHARS))

    # words ------------------------------------------------------------------------------
    def word(self, stop: str) -> _Word:
        """Read one word up to an unquoted character of `stop` (not consumed)."""
        line = self.line
        parts: list = []
        lit: list[str] = []

        def flush() -> None:
            if lit:
                parts.append(_Lit("".join(lit), False))
                lit.clear()

        while True:
            c = self.peek()
            if c == "" or c in stop:
                break
            if c == "\\":
                nxt = self.peek(1)
                if nxt == "\n":
                    self.advance(2)
                elif nxt == "":
                    self.advance()
                    lit.append("\\")
                else:
                    self.advance(2)
                    flush()
                    parts.append(_Lit(nxt, True))
            elif c == "'":
                flush()
                start = self.line
                self.advance()
                j = self.s.find("'", self.i)
                if j < 0:
                    raise self.error("unterminated quoted string (')", start)
                parts.append(_Lit(self.advance(j - self.i), True))
                self.advance()
            elif c == '"':
                flush()
                parts.extend(self.double_quoted())
            elif c == "$":
                flush()
                parts.append(self.dollar(quoted=False))
            elif c == "`":
                flush()
                parts.append(self.backquoted())
            else:
                lit.append(self.advance())
        flush()
        return _Word(parts, line)

    def double_quoted(self) -> list:
        start = self.line
        self.advance()  # opening "
        parts: list = []
        lit: list[str] = []
        while True:
            c = self.peek()
            if c == "":
                raise self.error('unterminated quoted string (")', start)
            if c == '"':
                self.advance()
                break
            if c == "\\" and self.peek(1) in '$`"\\\n':
                nxt = self.peek(1)
                self.advance(2)
                if nxt != "\n":
                    lit.append(nxt)
            elif c == "$":
                if lit:
                    parts.append(_Lit("".join(lit), True))
                    lit = []
                parts.append(self.dollar(quoted=True))
            elif c == "`":
                if lit:
                    parts.append(_Lit("".join(lit), True))
                    lit = []
                parts.append(self.backquoted())
            else:
                lit.append(self.advance())
        # An empty "" still makes a (empty) word: keep a quoted empty literal.
        parts.append(_Lit("".join(lit), True))
        return parts

    def dollar(self, quoted: bool):
        self.advance()  # $
        self.skip_continuations()
        c = self.peek()
        if c == "(":
            if self.peek(1) == "(":
                raise self.error("arithmetic expansion is not supported")
            return self.parenthesized()
        if c == "{":
            return self.braced(quoted)
        m = _NAME.match(self.s, self.i)
        if m:
            self.advance(m.end() - self.i)
            return _Param(m.group(), None, None, quoted)
        if c and (c.isdigit() or c in "@*#?-$!"):
            raise self.error(f"unsupported parameter ${c} (only rc.conf variables can be expanded)")
        return _Lit("$", quoted)  # a lone '$' is literal in sh

    def backquoted(self) -> _Unsupported:
        """`command`, skipped: a backslash escapes the next character, the next unescaped
        backquote ends it."""
        start = self.line
        self.advance()  # opening `
        while True:
            c = self.peek()
            if c == "":
                raise self.error("unterminated command substitution (`)", start)
            self.advance(2 if c == "\\" else 1)
            if c == "`":
                return _Unsupported(SUBSTITUTION)

    def parenthesized(self) -> _Unsupported:
        """$(command), skipped: up to the parenthesis that balances the opening one, quotes
        and backslashes honoured."""
        start = self.line
        self.advance()  # (
        depth = 1
        while depth:
            c = self.peek()
            if c == "":
                raise self.error("missing ')' of a command substitution", start)
            if c == "\\":
                self.advance(2)
            elif c == "'":
                j = self.s.find("'", self.i + 1)
                if j < 0:
                    raise self.error("unterminated quoted string (')", self.line)
                self.advance(j + 1 - self.i)
            elif c == '"':
                self.double_quoted()
            else:
                depth += {"(": 1, ")": -1}.get(c, 0)
                self.advance()
        return _Unsupported(SUBSTITUTION)

    def braced(self, quoted: bool) -> _Param:
        start = self.line
        self.advance()  # {
        m = _NAME.match(self.s, self.i)
        if not m:
            raise self.error("bad substitution (only ${name} forms are supported)", start)
        name = m.group()
        self.advance(m.end() - self.i)
        if self.peek() == "}":
            self.advance()
            return _Param(name, None, None, quoted)
        for op in (":-", ":+", "-", "+"):
            if self.s.startswith(op, self.i):
                self.advance(len(op))
                arg = self.brace_arg(start)
                return _Param(name, op, tuple(arg), quoted)
        raise self.error(f"bad substitution (unsupported operator after ${{{name}}})", start)

    def brace_arg(self, start: int) -> list:
        """The word after ${name- ... up to the closing brace (consumed)."""
        parts: list = []
        while True:
            c = self.peek()
            if c == "":
                raise self.error("missing '}'", start)
            if c == "}":
                self.advance()
                return parts
            if c in _BLANKS or c == "\n":  # blanks inside ${x-a b} are literal
                parts.append(_Lit(self.advance(), False))
                continue
            parts.extend(self.word(_BLANKS + "\n}").parts)


# --- expansion ----------------------------------------------------------------------------

def _expand(parts, lookup, split_literals: bool = False) -> list[tuple[str, bool]]:
    """Expand parts to (text, splittable) pieces. Splittable = produced by an unquoted
    expansion; `split_literals` marks the unquoted literal text of the word in an
    unquoted ${x-word} as splittable too (sh splits the whole expansion result)."""
    out: list[tuple[str, bool]] = []
    for p in parts:
        if isinstance(p, _Lit):
            out.append((p.text, split_literals and not p.quoted))
            continue
        if isinstance(p, _Unsupported):
            raise _Unparsable(p.message)
        value = lookup(p.name)
        if p.op is not None:
            is_set = value is not None and (value != "" or not p.op.startswith(":"))
            use_word = (not is_set) if p.op.endswith("-") else is_set
            if use_word:
                pieces = _expand(p.arg, lookup, split_literals=not p.quoted)
                out.extend((t, s and not p.quoted) for t, s in pieces)
                continue
            if p.op.endswith("+"):
                continue  # ${x+w} with x unset: nothing
        out.append((value or "", not p.quoted))
    return out


def _fields(word: _Word, lookup) -> list[str]:
    """Field splitting of one word (IFS = blanks and newline), no globbing."""
    fields: list[str] = []
    cur: list[str] = []
    have = False  # current field exists (even if empty, e.g. from "")
    for text, splittable in _expand(word.parts, lookup):
        if not splittable:
            cur.append(text)
            have = True
            continue
        pieces = re.split(r"[ \t\n]+", text)
        for k, piece in enumerate(pieces):
            if k > 0:  # a separator was here
                if have:
                    fields.append("".join(cur))
                cur, have = [], False
            if piece:
                cur.append(piece)
                have = True
    if have:
        fields.append("".join(cur))
    return fields


def _shown(word: _Word) -> str:
    """A word as written, near enough for a message."""
    return "".join(p.text if isinstance(p, _Lit) else
                   "$(...)" if isinstance(p, _Unsupported) else f"${p.name}" for p in word.parts)


def _is_assignment(word: _Word) -> re.Match | None:
    first = word.parts[0] if word.parts else None
    if isinstance(first, _Lit) and not first.quoted:
        return _ASSIGNMENT.match(first.text)
    return None


# --- public entry points ------------------------------------------------------------------

# One line holding at most one plain assignment (a value with nothing to expand or escape)
# and/or a comment: what nearly every rc.conf line is.  A file made only of such lines is
# read with one regex match per line; anything else goes through the sh lexer.
_SIMPLE_LINE = re.compile(
    r"""[ \t]*(?:([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"\\$`]*)"|'([^']*)'|"""
    r"""([^\s"'\\$`;&|<>()#~]*))(?:[ \t]+(?:#.*)?)?|#.*)?""")


def _parse_simple(text: str, file: str, rc: RcVars) -> bool:
    """The fast path of parse_text: False (and nothing set) unless every line is simple."""
    matches = []
    match = _SIMPLE_LINE.fullmatch
    for m in map(match, text.split("\n")):
        if m is None:
            return False
        matches.append(m)
    for n, m in enumerate(matches, 1):
        name = m.group(1)
        if name is not None:
            value = m.group(2)
            if value is None:
                value = m.group(3) if m.group(3) is not None else m.group(4)
            rc.set(Value(name, value, file, n))
    return True


def parse_text(text: str, file: str = "rc.conf", into: RcVars | None = None,
               fast: bool = True) -> RcVars:
    """Execute the assignments of one file's text into `into` (a new RcVars if None).
    fast=False always uses the sh lexer (tests compare the two)."""
    rc = RcVars() if into is None else into
    if fast and _parse_simple(text, file, rc):
        if file not in rc.files:
            rc.files.append(file)
        return rc
    lexer = _Lexer(text, file)

    def lookup(name: str) -> str | None:
        if name in rc.unparsed:
            raise _Unparsable(f"uses ${name}, which is left unset ({rc.unparsed[name][2]})")
        return rc.text(name)

    for command in lexer.commands():
        words = command
        if _shown(command[0]) in _SETTING_BUILTINS:
            # `export a=1 b`: the assignments among its arguments set variables
            words = [w for w in command[1:] if _is_assignment(w)]
        else:
            other = next((w for w in command if _is_assignment(w) is None), None)
            if other is not None:
                shown = _shown(other)
                if shown in _RESERVED:
                    raise RcSyntaxError(file, other.line, f"unsupported shell syntax: '{shown}' "
                                        "(only name=value lines are allowed)")
                # sh runs it as a command (the assignments before it set only that
                # command's environment), reports what fails and goes on
                rc.warnings.append(f"{file}:{other.line}: not a variable assignment: "
                                   f"'{shown}' (skipped: only name=value lines are applied)")
                continue
        for word in words:
            m = _is_assignment(word)
            name = m.group(1)
            rest = [_Lit(word.parts[0].text[m.end():], False)] + word.parts[1:]
            try:
                value = "".join(t for t, _ in _expand(rest, lookup))
            except _Unparsable as exc:
                rc.leave_unset(name, file, word.line, exc.message)
                continue
            rc.set(Value(name, value, file, word.line))
    if file not in rc.files:
        rc.files.append(file)
    return rc


def parse_files(paths: Iterable[str | os.PathLike]) -> RcVars:
    """Source each file in order (later assignments win); unreadable files and repeats
    are skipped like rc.subr's source_rc_confs does. `RcVars.files` lists the files read.
    (rc_conf_files set inside a file is not followed: the caller chooses the files.)"""
    rc = RcVars()
    for path in paths:
        path = os.fspath(path)
        if path in rc.files:  # source_rc_confs reads each file once
            continue
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError:
            continue
        parse_text(text, path, rc)
    return rc


def eval_words(text: str, rcvars: Mapping[str, Value] | None = None,
               file: str = "<eval>", line: int = 1) -> list[str]:
    """The argument words `eval cmd <text>` produces (quotes honoured, $var expanded
    from `rcvars`, unquoted expansions split at blanks). Only words are allowed:
    operators such as ';' or '|' raise RcSyntaxError citing `file:line`."""
    unparsed = getattr(rcvars, "unparsed", {})

    def lookup(name: str) -> str | None:
        if name in unparsed:
            raise rcvars.unparsed_error(name)
        v = rcvars.get(name) if rcvars is not None else None
        return None if v is None else v.text

    words: list[str] = []
    for command in _Lexer(text, file, line).commands():
        if words:
            raise RcSyntaxError(file, line,
                                "unsupported shell syntax: several commands in one value")
        for w in command:
            try:
                words.extend(_fields(w, lookup))
            except _Unparsable as exc:     # eval would run the command
                raise RcSyntaxError(file, line, exc.message) from None
    return words
