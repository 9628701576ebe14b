"""The audit log kept in memory (persist/audit.py): a loop turn's changes packed as one
body, refusals and big arguments among them, the byte bound, the `audit` op's answers."""
from __future__ import annotations

import msgpack

from plebnet_core.persist.audit import ENTRY_MAX, SLOT, Audit


class Peer:
    pid, uid = 4242, 1001


def seqs(audit: Audit, n=None) -> list[int]:
    return [e["seq"] for e in audit.op({} if n is None else {"n": n}).rows]


def test_changes_of_a_turn_come_back_as_entries_in_order_with_refusals_between():
    audit = Audit()
    audit.changed(Peer, "rtmsg", {"type": "RTM_ADD", "dst": "10.1.0.0"}, None)
    audit.changed(Peer, "rtmsg", {"type": "RTM_CHANGE", "dst": "10.1.0.0"}, None)
    audit.refused(Peer, "rtmsg", {"type": "RTM_DELETE", "dst": "10.9.0.0"}, 3, "not in table")
    audit.changed(Peer, "ioctl", {"req": "SIOCAIFADDR"}, None)
    audit.flush()
    rows = audit.op({"args": True}).rows
    assert [(e["seq"], e["op"], e["errno"], e["msg"]) for e in rows] == [
        (1, "rtmsg", 0, ""), (2, "rtmsg", 0, ""), (3, "rtmsg", 3, "not in table"),
        (4, "ioctl", 0, "")]
    assert rows[1]["args"] == {"type": "RTM_CHANGE", "dst": "10.1.0.0"}
    assert rows[0]["pid"] == 4242 and rows[0]["uid"] == 1001
    assert "args" not in audit.op({}).rows[0]
    # two changes packed as one body, the refusal alone, the last change alone
    assert len(audit.entries) == 3
    assert seqs(audit, 2) == [3, 4] and seqs(audit, 3) == [2, 3, 4] and seqs(audit, 0) == []


def test_a_big_change_in_a_turn_keeps_a_summary_the_others_whole():
    audit = Audit()
    audit.changed(Peer, "rtmsg", {"dst": "10.0.0.0"}, None)
    audit.changed(Peer, "batch", {"ops": list(range(5000))}, None)
    audit.changed(Peer, "rtmsg", {"dst": "10.0.1.0"}, None)
    rows = audit.op({"args": True}).rows
    assert rows[0]["args"] == {"dst": "10.0.0.0"} and rows[2]["args"] == {"dst": "10.0.1.0"}
    big = rows[1]["args"]
    assert big["truncated"] is True and big["ops"] == 5000
    assert big["bytes"] == len(msgpack.packb({"ops": list(range(5000))}))
    assert len(audit.entries[0]) < 3 * ENTRY_MAX


def test_the_bound_counts_bodies_and_keeps_the_newest():
    audit = Audit(max_bytes=4096)
    for turn in range(50):
        for i in range(10):
            audit.changed(Peer, "rtmsg", {"dst": f"10.{turn}.{i}.0"}, None)
        audit.flush()
    assert audit.bytes == sum(len(b) + SLOT for b in audit.entries) <= 4096
    kept = seqs(audit)
    assert kept == list(range(kept[0], 501)) and kept[0] % 10 == 1    # whole turns, newest
