"""rc.conf reading: the sh subset of plebconf.rc.parser."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plebconf.rc.parser import RcSyntaxError, Value, eval_words, parse_files, parse_text


def values(text, file="rc.conf"):
    return {name: (v.text, v.line) for name, v in parse_text(text, file).items()}


def test_quoting_forms():
    text = (
        "a=plain\n"
        "b='single $a \\ \"x\"'\n"
        'c="double \\$a \\` \\" \\\\ \\n"\n'
        "d=back\\ slash\\'q\n"
        "e=\n"
        'f=""\n'
        "g=mixed'  sq  '\"  dq  \"end\n"
    )
    assert values(text) == {
        "a": ("plain", 1),
        "b": ('single $a \\ "x"', 2),
        "c": ('double $a ` " \\ \\n', 3),  # \n is not an escape inside "..."
        "d": ("back slash'q", 4),
        "e": ("", 5),
        "f": ("", 6),
        "g": ("mixed  sq    dq  end", 7),
    }


def test_comments_only_at_word_start():
    text = (
        "# a comment line\n"
        "   # indented comment\n"
        "a=1 # trailing comment\n"
        "b=x#y\n"
        "c='#not' d=\"#not\"\n"
    )
    assert values(text) == {"a": ("1", 3), "b": ("x#y", 4), "c": ("#not", 5), "d": ("#not", 5)}


def test_backslash_newline_continuation():
    text = (
        "a=one\\\n"
        "two\n"
        'b="in \\\n'
        'quotes"\n'
        "c='kept\\\n"
        "literal'\n"
        "# a comment does not continue \\\n"
        "d=4\n"
        "e=\\\n"
        "5\n"
    )
    assert values(text) == {
        "a": ("onetwo", 1),
        "b": ("in quotes", 3),
        "c": ("kept\\\nliteral", 5),
        "d": ("4", 8),
        "e": ("5", 9),
    }


def test_value_spanning_lines_is_cited_at_its_first_line():
    assert values('a="x\ny\nz"\nb=1\n') == {"a": ("x\ny\nz", 1), "b": ("1", 4)}


def test_several_assignments_per_line_and_semicolons():
    assert values("a=1 b=2; c=3;d=4\n") == {"a": ("1", 1), "b": ("2", 1), "c": ("3", 1), "d": ("4", 1)}


def test_later_assignment_wins_with_its_origin():
    rc = parse_text("a=1\nb=2\na=3\n")
    assert rc["a"] == Value("a", "3", "rc.conf", 3)
    assert list(rc) == ["b", "a"]  # iteration follows the last assignment


def test_expansion():
    text = (
        "a=A\n"
        "b=$a-${a}-\"$a\"-'$a'\n"
        "c=${unset}x$unset\n"
        "e=\n"
        "f=${unset:-d1}.${e:-d2}.${e-d3}.${a:-d4}\n"
        "g=${a:+p}.${e:+q}.${e+r}.${unset+s}\n"
        "h=${unset-\"x  y\"$a}\n"
        "i=$\n"
        "j=${k}\n"
        "k=late\n"
    )
    assert values(text) == {
        "a": ("A", 1),
        "b": ("A-A-A-$a", 2),
        "c": ("x", 3),
        "e": ("", 4),
        "f": ("d1.d2..A", 5),
        "g": ("p..r.", 6),
        "h": ("x  yA", 7),
        "i": ("$", 8),
        "j": ("", 9),  # expansion sees only earlier assignments
        "k": ("late", 10),
    }


def test_expansion_is_left_to_right_on_one_line():
    assert values("a=1 b=$a a=2 c=$a\n") == {"a": ("2", 1), "b": ("1", 1), "c": ("2", 1)}


def test_parse_files_in_order_skipping_missing(tmp_path):
    conf = tmp_path / "rc.conf"
    local = tmp_path / "rc.conf.local"
    conf.write_text('hostname="one"\nifconfig_vnet0="inet 10.0.0.2/24"\n')
    local.write_text('hostname="two.$ifconfig_vnet0"\n')
    rc = parse_files([conf, tmp_path / "missing", local, conf])
    assert rc["hostname"] == Value("hostname", "two.inet 10.0.0.2/24", str(local), 1)
    assert rc["ifconfig_vnet0"] == Value("ifconfig_vnet0", "inet 10.0.0.2/24", str(conf), 2)
    assert rc.files == [str(conf), str(local)]


@pytest.mark.parametrize("text, message", [
    ('\nif [ -x /bin/sh ]; then a=1; fi\n',
     "rc.conf:2: unsupported shell syntax: 'if' (only name=value lines are allowed)"),
    ("a=$((1+1))\n", "rc.conf:1: arithmetic expansion is not supported"),
    ("a=$(echo x\n", "rc.conf:1: missing ')' of a command substitution"),
    ("a=`echo x\n", "rc.conf:1: unterminated command substitution (`)"),
    ("a=1\n\nb='open\nc=2\n", "rc.conf:3: unterminated quoted string (')"),
    ('a="open\n', 'rc.conf:1: unterminated quoted string (")'),
    ("a=1 | cat\n", "rc.conf:1: unsupported shell syntax '|'"),
    ("a=1 > /tmp/x\n", "rc.conf:1: unsupported shell syntax '>'"),
    ("a=$1\n", "rc.conf:1: unsupported parameter $1 (only rc.conf variables can be expanded)"),
    ("a=${b\n", "rc.conf:1: bad substitution (unsupported operator after ${b})"),
    ("a=${b:=c}\n", "rc.conf:1: bad substitution (unsupported operator after ${b})"),
    ("a=${b-c\n", "rc.conf:1: missing '}'"),
    ("; a=1\n", "rc.conf:1: syntax error: unexpected ';'"),
])
def test_errors_cite_file_and_line(text, message):
    with pytest.raises(RcSyntaxError) as e:
        parse_text(text, "rc.conf")
    assert str(e.value) == message


def test_error_line_counts_continuations():
    with pytest.raises(RcSyntaxError) as e:
        parse_text("a=one\\\ntwo\nb='x'\nif\n", "/etc/rc.conf.local")
    assert (e.value.file, e.value.line) == ("/etc/rc.conf.local", 4)
    rc = parse_text("a=one\\\ntwo\nb='x'\necho\n", "/etc/rc.conf.local")
    assert rc.warnings == ["/etc/rc.conf.local:4: not a variable assignment: 'echo' "
                           "(skipped: only name=value lines are applied)"]


# --- sh's tolerance: what sh would run is skipped with a warning ---------------------------

def skipped(file, line, word):
    return f"{file}:{line}: not a variable assignment: '{word}' (skipped: only name=value lines are applied)"


@pytest.mark.parametrize("text, values, warnings", [
    # a command: sh runs it, reports a failure and goes on; the rest of the file applies
    ("a=1\necho hello\nb=2\n", {"a": "1", "b": "2"}, [skipped("rc.conf", 2, "echo")]),
    # a pasted prompt: `#` starts a comment only at a word's start
    ("root@gw:~ # sysrc a=1\n$ sysrc b=2\nc=3\n", {"c": "3"},
     [skipped("rc.conf", 1, "root@gw:~"), skipped("rc.conf", 2, "$")]),
    # `a=1 cmd`: the assignment is cmd's environment only, the shell's `a` stays as it was
    ("a=0\na=1 b\na= b\n", {"a": "0"}, [skipped("rc.conf", 2, "b"), skipped("rc.conf", 3, "b")]),
    # a quoted name is not an assignment but a command named `a=1`
    ('"a"=1\n', {}, [skipped("rc.conf", 1, "a=1")]),
    # export/readonly set the variables of their name=value arguments
    ("export a=1 b\nreadonly c=$a\n", {"a": "1", "c": "1"}, []),
    # only the command is skipped, not the other commands of its line
    ("a=1; echo x; b=2\n", {"a": "1", "b": "2"}, [skipped("rc.conf", 1, "echo")]),
])
def test_non_assignments_are_skipped_with_a_warning(text, values, warnings):
    for fast in (True, False):
        rc = parse_text(text, "rc.conf", fast=fast)
        assert {k: v.text for k, v in rc.items()} == values
        assert rc.warnings == warnings


def test_command_substitution_leaves_the_variable_unset_with_a_warning():
    text = ('a=1\n'
            'b=$(hostname -s | tr a-z A-Z)\n'
            'c="x `uname -r` y"\n'
            'd="$(printf \'%s\' "(")"\n'     # quotes inside: the parenthesis does not count
            'e="pre-$b"\n'                      # built from an unset one: unknown too
            'a=$(false)\n'                      # replaces a's earlier value
            'f=2\n')
    rc = parse_text(text, "rc.conf")
    assert {k: v.text for k, v in rc.items()} == {"f": "2"}
    assert rc.unparsed == {
        "b": ("rc.conf", 2, "command substitution is not supported"),
        "c": ("rc.conf", 3, "command substitution is not supported"),
        "d": ("rc.conf", 4, "command substitution is not supported"),
        "e": ("rc.conf", 5, "uses $b, which is left unset (command substitution is not supported)"),
        "a": ("rc.conf", 6, "command substitution is not supported"),
    }
    assert rc.warnings[0] == "rc.conf:2: $b: command substitution is not supported; $b is left unset"
    assert len(rc.warnings) == 5
    # set again by a plain assignment: known again
    parse_text("b=3\n", "rc.conf.local", rc)
    assert rc["b"].text == "3" and "b" not in rc.unparsed


def test_eval_of_an_unparsed_variable_is_an_error_citing_where_it_was_set():
    rc = parse_text('\nip=$(cat /etc/myip)\n')
    with pytest.raises(RcSyntaxError) as e:
        eval_words("inet $ip", rc, "rc.conf", 9)
    assert str(e.value) == "rc.conf:2: $ip: command substitution is not supported"
    with pytest.raises(RcSyntaxError) as e:
        eval_words("inet $(cat /etc/myip)", rc, "rc.conf", 9)
    assert str(e.value) == "rc.conf:9: command substitution is not supported"


# --- eval (how rc re-reads ifconfig_IF values) --------------------------------------------

def test_eval_words_quotes_expansion_and_splitting():
    rc = parse_text('ip="10.0.0.2/24"\ntwo="a  b"\nempty=\n')
    words = eval_words('inet $ip description "uplink  port" $two "$two" $empty "" \'$ip\' # c', rc)
    assert words == ["inet", "10.0.0.2/24", "description", "uplink  port", "a", "b", "a  b", "",
                     "$ip"]


def test_eval_words_rejects_a_second_command():
    with pytest.raises(RcSyntaxError) as e:
        eval_words("up; reboot", None, "rc.conf", 7)
    assert str(e.value) == "rc.conf:7: unsupported shell syntax: several commands in one value"


# --- property: sh quoting round-trips ------------------------------------------------------

def single_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_single_quoted_values_round_trip(s):
    assert parse_text(f"v={single_quote(s)}\n")["v"].text == s


@given(st.lists(st.text(alphabet="ab $'\"\\#;|\t", min_size=1), min_size=1, max_size=5))
def test_eval_of_quoted_words_round_trips(words):
    assert eval_words(" ".join(single_quote(w) for w in words)) == words
