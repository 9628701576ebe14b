"""The attacks on `plebnet --state` of the hardening review, each kept as a test (their long
versions are rows of tools/reliability_report.py): huge refused requests, refusals-only
journals, short writes and a full disk, damaged and odd journal files."""
import os
import signal

import msgpack
import pytest

from plebnet_core import persist
from plebnet_core.persist import Audit, check_journal, pack_record, preview, summary
from plebnet_core.spawn import StackStartError, spawn_stack
from tests.conftest import need_root
from tools import harness

NIC = ["--nic", "vnet0=none"]
# the routes acknowledged before the 30th route's record (the first 29 of 60)
ROUTES_29 = sorted(f"10.{i + 1}.0.0" for i in range(29))


# == 1: refused requests are kept as bounded summaries; compaction follows size ===============
def test_refused_8mib_requests_do_not_stay_in_memory_or_the_journal():
    figures = harness.refused_frames(3)
    assert figures["answered"] == 3
    assert figures["rss_after_kib"] - figures["rss_before_kib"] < 64 * 1024, figures
    assert figures["journal_bytes"] < 64 * 1024 and figures["audit_args_bytes"] < 2048
    assert figures["restart_ok"]


def test_summary_of_a_large_refused_request():
    big = {"req": "SIOCSIFMTU", "ifname": "nosuch", "mtu": 1400, "pad": [{}] * 100_000,
           "blob": b"\x01" * 5000, "name": "y" * 1000}
    audit = Audit(max_bytes=1 << 20)
    journaled = []
    audit.sink = journaled.append
    audit.refused(None, "ioctl", big, 6, "Device not configured " + "z" * 10_000)
    entry = audit.op({"args": True}).rows[0]
    assert entry["op"] == "ioctl" and entry["errno"] == 6
    assert entry["msg"] == "Device not configured " + "z" * (persist.audit.TEXT_MAX - 22) + "…"
    args = entry["args"]
    assert args["truncated"] is True and args["bytes"] == len(msgpack.packb(big))
    assert (args["req"], args["ifname"], args["mtu"]) == ("SIOCSIFMTU", "nosuch", 1400)
    assert "name" not in args and "blob" not in args        # too long to keep as fields
    assert args["preview"].startswith("{'req': 'SIOCSIFMTU', 'ifname': 'nosuch', 'mtu': "
                                      "1400, 'pad': [{}, {}")
    assert len(args["preview"]) == persist.audit.TEXT_MAX + 1
    # the journal holds the summary, not the request
    assert len(journaled) == 1 and len(journaled[0]) < persist.audit.ENTRY_MAX + 1024
    assert msgpack.unpackb(journaled[0])["args"] == args
    # a batch keeps its count of ops, so `log` still says "batch (N ops)"
    audit.refused(None, "batch", {"ops": [["ioctl", {"x": "y" * 100}]] * 50}, 22, "")
    from plebconf.cli.log import describe
    assert describe(audit.op({"args": True, "n": 1}).rows[0]) == "batch (50 ops)"


def test_preview_stops_early_and_names_every_type():
    assert preview({"a": [1, 2.5, None, True], "b": b"\x00x"}) == \
        "{'a': [1, 2.5, None, True], 'b': b'\\x00x'}"
    assert preview("x" * 10_000, 10) == "'xxxxxxxxx…"
    deep = []
    for _ in range(100):
        deep = [deep]
    assert preview(deep) == "[" * 17 + "…" + "]" * 17       # 16 levels, then elided


def test_audit_is_bounded_in_bytes_newest_kept():
    audit = Audit(max_bytes=64 * 1024)
    for i in range(5000):
        audit.refused(None, "rtmsg", {"type": "RTM_ADD", "dst": f"10.{i >> 8}.{i & 255}.0",
                                      "pad": "p" * 300}, 51, "Network is unreachable")
    assert audit.bytes <= 64 * 1024
    assert audit.bytes == sum(len(b) + persist.audit.SLOT for b in audit.entries)
    rows = audit.op({}).rows
    assert rows[-1]["seq"] == 5000 and [r["seq"] for r in rows] == list(
        range(5001 - len(rows), 5001))
    assert summary("plain")["preview"] == "'plain'"


def test_refusals_alone_compact_the_journal():
    figures = harness.refusal_compaction(requests=300, compact_bytes=16384)
    assert figures["refused"] == 300
    assert figures["journal_max"] < 2 * 16384, figures
    assert figures["snapshot_seq"] > 0


# == 2: short writes, a full disk ===============================================================
def test_snapshot_write_cut_short_leaves_everything_as_it_was():
    figures = harness.short_writes(cuts=60, seed=2)
    assert figures["cuts"] == 60
    assert figures["untouched"] == 60 and figures["refused_cleanly"] == 60
    assert figures["short_ok"]


def test_full_disk_tmpfs():
    need_root("mounting a small tmpfs")
    figures = harness.full_disk()
    assert figures["compaction_failed_cleanly"] and figures["served_after"], figures
    assert figures["no_tmp"]
    assert "No space left on device" in figures["start_refused"]
    assert "\n" not in figures["start_refused"] and figures["untouched"]
    assert figures["restored"], figures
    # then full to the journal's last page: acknowledged while it had room, then exit 75
    assert figures["journal_full_exit"] == 75 and figures["journal_full_message"]
    assert figures["journal_full_acked"] > 0 and figures["journal_full_restored"], figures


def test_stale_empty_snapshot_tmp_is_removed(sockdir):
    state = os.path.join(sockdir, "state")
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    with stack.client() as c:
        c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1400)
    stack.stop(signal.SIGKILL)
    open(os.path.join(state, "snapshot.tmp"), "wb").close()
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    with stack.client() as c:
        assert c.sysctl("NET_RT_IFLIST")[0]["mtu"] == 1400
    stack.stop()
    assert sorted(os.listdir(state)) == ["hostid", "journal", "lock", "snapshot"]


# == 3: damage in the journal ===================================================================
def _journal_of_routes(sockdir, n=60):
    state = os.path.join(sockdir, "state")
    env = dict(os.environ, PLEBNET_COMPACT_BYTES=str(1 << 30))
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir, env=env)
    with stack.client() as c:
        harness._config_routes(c, n)
    stack.stop(signal.SIGKILL)
    journal = os.path.join(state, "journal")
    with open(journal, "rb") as f:
        return state, journal, env, f.read()


def test_flipped_byte_mid_journal_stops_the_start_then_salvage(sockdir):
    state, journal, env, good = _journal_of_routes(sockdir)
    found, _ = persist.records.scan_records(good)
    at = found[30][0]                   # the 30th route's record (after the address)
    bad = bytearray(good)
    bad[at + 20] ^= 0x01
    with open(journal, "wb") as f:
        f.write(bad)
    before = harness._files(state)
    with pytest.raises(StackStartError) as exc:
        spawn_stack([*NIC, "--state", state], sockdir=sockdir, env=env)
    assert str(exc.value) == (
        f"plebnet: {journal}: damaged record at offset {at} ({len(found) - 31} intact "
        f"record(s) after it, from offset {found[31][0]}); files left untouched (plebnet "
        f"--state {state} --salvage keeps a copy and loads what precedes the damage)")
    assert harness._files(state) == before
    stack = spawn_stack([*NIC, "--state", state, "--salvage"], sockdir=sockdir, env=env)
    with stack.client() as c:
        assert harness._routes(c) == ROUTES_29
    stack.stop()
    line = [ln for ln in stack.stderr().splitlines() if "salvaging" in ln]
    assert len(line) == 1 and f"damaged record at offset {at}" in line[0]
    copy = os.path.join(state, [d for d in os.listdir(state) if d.startswith("salvage-")][0])
    assert harness._files(copy) == {"journal": bytes(bad), "snapshot": before["snapshot"]}
    # salvaged is saved: the next start is an ordinary one
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir, env=env)
    with stack.client() as c:
        assert len(harness._routes(c)) == 29
    stack.stop()


def test_journal_of_zeros_stops_the_start(sockdir):
    state, journal, env, good = _journal_of_routes(sockdir, 5)
    with open(journal, "wb") as f:
        f.write(b"\0" * len(good))
    with pytest.raises(StackStartError) as exc:
        spawn_stack([*NIC, "--state", state], sockdir=sockdir, env=env)
    assert str(exc.value).startswith(f"plebnet: {journal}: damaged record at offset 0 "
                                     f"(zeros to the end of the file); files left untouched")


def test_every_flipped_byte_is_refused_or_a_torn_last_record():
    figures = harness.journal_damage(routes=20, starts=2, seed=5)
    assert figures["silent_loss"] == 0
    assert figures["refused"] + figures["torn"] == figures["bytes_flipped"]
    assert figures["torn"] <= 4 * 8         # only bits of the last record's length field
    assert figures["starts_refused"] == figures["starts"] == 4, figures["message"]
    assert figures["salvaged"]
    assert figures["salvage_routes"] == figures["expected_salvage_routes"]


def test_check_journal_rules():
    recs = [pack_record({"seq": s, "time": 0, "pid": 1, "uid": 0, "op": "ioctl",
                         "args": {}, "errno": 0, "msg": ""}) for s in range(5, 9)]
    data = b"".join(recs)
    assert [r["seq"] for r in check_journal(data, 4)[0]] == [5, 6, 7, 8]
    assert [r["seq"] for r in check_journal(data, 6)[0]] == [7, 8]     # before the snapshot
    assert check_journal(data + recs[0][:5], 4)[1:] == (None, 5)      # torn header
    assert check_journal(data + recs[0][:-1], 4)[1:] == (None, len(recs[0]) - 1)
    gap = recs[0] + recs[2]
    assert check_journal(gap, 4)[1] == (f"journal: change 7 at offset {len(recs[0])} "
                                        f"follows change 5: changes are missing")
    assert "follows the snapshot's change 2" in check_journal(data, 2)[1]
    assert "follows no snapshot" in check_journal(data, 0)[1]
    # a length field made larger in a middle record: intact ones follow, so not a tear
    bad = bytearray(data)
    bad[len(recs[0])] = 0x7F
    assert check_journal(bytes(bad), 4)[1].startswith(
        f"journal: damaged record at offset {len(recs[0])} (2 intact record(s) after it")
    assert check_journal(b"\0" * 100, 0)[1] == (
        "journal: damaged record at offset 0 (zeros to the end of the file)")
    assert check_journal(data + b"\0" * 64, 4)[1] == (
        f"journal: damaged record at offset {len(data)} (zeros to the end of the file)")
    assert "not a change record" in check_journal(pack_record({"seq": 5}), 4)[1]


# == 4: odd files in the journal's place ========================================================
def test_odd_journal_files_are_refused_in_one_line():
    figures = harness.odd_journals()
    assert figures["failing"] == [] and figures["held"] == figures["cases"] == 5


def test_missing_journal_message_and_salvage(sockdir):
    state = os.path.join(sockdir, "state")
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    with stack.client() as c:
        c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1400)
    stack.stop()
    journal = os.path.join(state, "journal")
    os.unlink(journal)
    with pytest.raises(StackStartError) as exc:
        spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    assert str(exc.value).startswith(f"plebnet: {journal} is missing beside a snapshot of "
                                     f"change 0: changes after it may be lost; files left "
                                     f"untouched")
    os.mkdir(journal)
    with pytest.raises(StackStartError, match=f"^plebnet: {journal} is a directory, not a "
                                              f"journal file$"):
        spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    os.rmdir(journal)
    # the MTU change was in the journal only (the snapshot is the start's): salvage starts
    # from the snapshot, and says so
    stack = spawn_stack([*NIC, "--state", state, "--salvage"], sockdir=sockdir)
    with stack.client() as c:
        assert c.sysctl("NET_RT_IFLIST")[0]["mtu"] == 1500
    stack.stop()
    assert "is missing beside a snapshot of change 0" in stack.stderr()
    assert os.path.getsize(journal) == 0


def test_salvage_needs_state(sockdir):
    with pytest.raises(StackStartError, match="--salvage.*needs --state DIR"):
        spawn_stack(["--salvage"], sockdir=sockdir)


def test_damaged_snapshot_is_refused_in_one_line(sockdir):
    state = os.path.join(sockdir, "state")
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    stack.stop()
    snapshot = os.path.join(state, "snapshot")
    size = os.path.getsize(snapshot)
    os.truncate(snapshot, size - 1)
    with pytest.raises(StackStartError) as exc:
        spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    assert str(exc.value) == (f"plebnet: {snapshot} is damaged at offset 0 (of {size - 1} "
                              f"bytes); files left untouched: restore it from a copy, or "
                              f"move {state} aside to start afresh")
    assert os.path.getsize(snapshot) == size - 1


def test_missing_snapshot_beside_a_journal_is_refused(sockdir):
    state = os.path.join(sockdir, "state")
    stack = spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    with stack.client() as c:
        c.ioctl("SIOCSIFMTU", ifname="vnet0", mtu=1400)
    stack.stop(signal.SIGKILL)
    os.unlink(os.path.join(state, "snapshot"))
    with pytest.raises(StackStartError) as exc:
        spawn_stack([*NIC, "--state", state], sockdir=sockdir)
    assert str(exc.value).startswith(f"plebnet: {state}/snapshot is missing beside a journal "
                                     f"of 1 change record(s); files left untouched")
    stack = spawn_stack([*NIC, "--state", state, "--salvage"], sockdir=sockdir)
    with stack.client() as c:         # the journal replayed on an empty state
        assert c.sysctl("NET_RT_IFLIST")[0]["mtu"] == 1400
    stack.stop()
