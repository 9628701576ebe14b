#!/usr/bin/env python3
"""The reliability figures in one table: crashes survived, frames fuzzed, load held, stalled
peers, bad tool inputs tried, changes lost, and the attacks on --state (huge refused requests,
short writes and a full disk, damaged and odd journal files), and the hardening attacks
(big tables, dumps past a frame, ARP/NDP storms, keep-going batches, values FreeBSD refuses,
peers that never read).

    python tools/reliability_report.py          # shortened runs, a few minutes
    python tools/reliability_report.py --full   # 200 crashes, 1,000,000 frames, 64 × 10,000 ops,
                                                # 200,000 malformed IPv6 frames

Exit status 0 only if every check held.
"""
import argparse
import sys
import time

import _run  # noqa: F401

from tools import hardening, harness, packets6


def bad_inputs():
    """tests/test_bad_input.py's cases against one stack: (tried, held)."""
    try:
        from tests import test_bad_input as bad
    except ImportError:
        return None
    return bad.run_all()


def guarded(row, what, run):
    """One attack's row; an exception is a failed check, not a crashed report."""
    try:
        run()
    except Exception as exc:        # noqa: BLE001 - reported, and the exit status says so
        row(what, "-", False, f"{type(exc).__name__}: {exc}")


def persistence(row, full: bool) -> None:
    """The attacks on `plebnet --state` (RELIABILITY.md, "What --state promises")."""
    def frames():
        n = 30 if full else 3
        r = harness.refused_frames(n)
        grew = (r["rss_after_kib"] - r["rss_before_kib"]) / 1024
        row("refused 8 MiB requests (RSS kept)", f"{n}",
            r["answered"] == n and grew < 64 and r["journal_bytes"] < 64 * 1024
            and r["restart_ok"],
            f"RSS {r['rss_before_kib'] / 1024:.1f} -> {r['rss_after_kib'] / 1024:.1f} MB, "
            f"journal {r['journal_bytes']:,} bytes, audit kept <= {r['audit_args_bytes']} "
            f"bytes of args each")

    def compaction():
        r = harness.refusal_compaction(2000 if full else 400)
        row("journal bound under refusals only", f"{r['journal_max']:,} B",
            r["refused"] == r["requests"] and r["journal_max"] < 2 * r["compact_bytes"]
            and r["snapshot_seq"] > 0,
            f"{r['requests']} refused 4 KiB requests, compacting at {r['compact_bytes']:,} "
            f"bytes; snapshot at change {r['snapshot_seq']}")

    def writes():
        r = harness.short_writes(2000 if full else 200)
        row("snapshot writes cut short (injected)", f"{r['cuts']:,}",
            r["untouched"] == r["cuts"] == r["refused_cleanly"] and r["short_ok"],
            f"{r['untouched']} left snapshot and journal byte-identical; 7-byte writes "
            f"completed: {r['short_ok']}")

    def disk():
        r = harness.full_disk()
        if r is None:
            row("full disk (256 KiB tmpfs)", "-", True, "skipped: needs root to mount")
            return
        held = (r["compaction_failed_cleanly"] and r["served_after"] and r["no_tmp"]
                and "No space left on device" in r["start_refused"] and r["untouched"]
                and r["restored"] and r["journal_full_exit"] == 75
                and r["journal_full_message"] and r["journal_full_restored"])
        row("full disk (256 KiB tmpfs)", "1", held,
            f"compaction failed, served on: {r['compaction_failed_cleanly']}; start refused, "
            f"files untouched: {r['untouched']}; all back once freed: {r['restored']}; "
            f"journal full: exit {r['journal_full_exit']} after {r['journal_full_acked']} "
            f"acked, all back: {r['journal_full_restored']}")

    def damage():
        r = harness.journal_damage(starts=10 if full else 3)
        row("journal bytes flipped (each once)", f"{r['bytes_flipped']:,}",
            r["silent_loss"] == 0 and r["refused"] + r["torn"] == r["bytes_flipped"],
            f"{r['refused']:,} refused, {r['torn']} torn-like (last record's length), "
            f"{r['silent_loss']} silent losses")
        row("damaged journals started", f"{r['starts']}",
            r["starts_refused"] == r["starts"] and r["salvaged"]
            and r["salvage_routes"] == r["expected_salvage_routes"],
            f"{r['starts_refused']} refused in one line, files untouched; --salvage kept a "
            f"copy, loaded {r['salvage_routes']}/{r['expected_salvage_routes']} routes "
            f"before the damage")

    def odd():
        r = harness.odd_journals()
        row("odd journal files", f"{r['cases']}", not r["failing"],
            f"{r['held']} held (missing, directory, symlink, FIFO: refused in one line; "
            f"stale snapshot.tmp removed)" + (f"; failing: {r['failing']}" if r["failing"]
                                              else ""))

    for what, run in [("refused 8 MiB requests", frames), ("journal under refusals",
                      compaction), ("short writes", writes), ("full disk", disk),
                      ("journal damage", damage), ("odd journal files", odd)]:
        guarded(row, what, run)


def hardening_rows(row, full: bool) -> None:
    """The hardening attacks (RELIABILITY.md, "Bounded cost under big tables and hostile
    peers"): each row gives the attack's figure, the stack's peak RSS during it and the
    event loop's p99/worst turn as a probe client saw it."""
    def loop(r):
        return (f"peak RSS {r['peak_mb']:.0f} MB, loop p99/worst {r['p99_ms']:.0f}/"
                f"{r['worst_ms']:.0f} ms")

    def aliases():
        r = hardening.alias_flood(100_000)
        steps = r["step_s"]
        flat = max(steps) <= 3 * max(min(steps), 0.05)
        row("aliases in one batch (cost per add)", f"{r['aliases']:,}",
            flat and r["left"] == 0 and r["violations"] == 0,
            f"{r['batch_s']} s; {r['aliases']:,} more in {len(steps)} steps of "
            f"{min(steps)}-{max(steps)} s (flat: {flat}); all deleted in {r['delete_s']} s, "
            f"{r['violations']} violations; {loop(r)}")

    def listings():
        r = hardening.big_listings(100_000)
        failed = [k for k, (ok, _, _) in r["tools"].items() if not ok]
        row("listings after 100k aliases", f"{len(r['tools']) + 5}",
            not failed and r["iflist_addrs"] == r["dry_run_addrs"] == r["aliases"]
            and r["largest_frame"] < (1 << 20),
            f"{', '.join(r['tools'])}, 4 dumps and a dry run whole; largest frame "
            f"{r['largest_frame']:,} bytes" + (f"; failing: {failed}" if failed else "")
            + f"; {loop(r)}")

    def storm():
        r = hardening.neighbour_storm(100_000, 50_000, 50_000)
        row("ARP/NDP storm (senders)", f"{r['offlink'] + r['onlink'] + r['ndp']:,}",
            r["offlink_learned"] == 0 and r["onlink_learned"] <= r["limit"]
            and r["ndp_learned"] <= r["limit"],
            f"{r['offlink']:,} off-link ARP: {r['offlink_learned']} learned; {r['onlink']:,} "
            f"on-link ARP: {r['onlink_learned']:,}, {r['ndp']:,} NDP: {r['ndp_learned']:,} "
            f"(limit {r['limit']:,}); arp -an {r['arp_an_s']} s; {loop(r)}")

    def keep_going():
        small, r = hardening.keep_going_lines(1000), hardening.keep_going_lines(4000)
        linear = r["seconds"] <= 8 * max(small["seconds"], 0.25)
        row("batch --keep-going (lines, half refused)", f"{r['lines']:,}",
            linear and r["reported"] == r["refused"] and r["routes"] == r["lines"] - r["refused"]
            and r["audit_entries"] == 2,
            f"{r['seconds']} s (1,000 lines: {small['seconds']} s; linear: {linear}), "
            f"{r['reported']:,} failures reported, {r['audit_entries']} audit entries, journal "
            f"{r['journal_bytes']:,} bytes; {loop(r)}")

    def values():
        r = hardening.refused_values()
        row("values FreeBSD refuses", f"{r['tried']}", r["held"] == r["tried"],
            f"{r['held']} EINVAL (never an internal error), state unchanged"
            + (f"; failing: {r['failing'][:3]}" if r["failing"] else ""))

    def deaf():
        r = hardening.deaf_peers()
        row("peers that never read (budget 4 MiB)", f"{r['requests'] + 1 + r['subscribers']}",
            r["alive"] and r["dumps_answered"] == r["requests"]
            and r["subscribers_told"] == r["subscribers"]
            and r["rss_after_dumps_mb"] - r["rss_base_mb"] < 64
            and r["rss_ping_later_mb"] - r["rss_after_ping_mb"] < 8,
            f"{r['requests']} IFLIST requests ({r['aliases']:,} aliases): RSS "
            f"{r['rss_base_mb']:.0f} -> {r['rss_after_dumps_mb']:.0f} MB, all answered once "
            f"read; ping -i 0: {r['rss_after_ping_mb']:.0f} -> {r['rss_ping_later_mb']:.0f} "
            f"MB; {r['subscribers']} subscribers during {r['routes']:,} routes: "
            f"{r['subscribers_told']} told ENOBUFS, RSS {r['rss_after_events_mb']:.0f} MB; "
            f"{loop(r)}")

    for what, run in [("aliases", aliases), ("listings", listings), ("storm", storm),
                      ("keep-going", keep_going), ("values", values), ("deaf peers", deaf)]:
        guarded(row, what, run)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--hardening", action="store_true", help="only the hardening rows")
    opts = ap.parse_args()
    full = opts.full
    rows, ok = [], True

    def row(what, figure, held, detail):
        nonlocal ok
        ok = ok and held
        rows.append((what, figure, "yes" if held else "NO", detail))

    t = time.time()
    if opts.hardening:
        hardening_rows(row, full)
        return _print(rows, ok, full, t)
    c = harness.crash_rounds(200 if full else 20, seed=int(t))
    row("crashes survived (SIGKILL, 4 writers)", f"{c['rounds']}",
        c["rounds"] == (200 if full else 20) and not c["restarts_failed"],
        f"{c['acked']} acked, {c['refused']} refused, {c['unknown']} in flight")
    row("changes lost / refused ones present", f"{c['lost']} / {c['phantom']}",
        c["lost"] == 0 and c["phantom"] == 0, f"{c['violations']} invariant violations")
    frames = 1_000_000 if full else 200_000
    f = harness.fuzz_frames(frames, seed=int(t), check_every=frames // 10)
    row("frames fuzzed (pipelined)", f"{f['frames']:,}",
        f["replies"] == frames and not (f["crashes"] or f["violations"]
                                        or f["internal_errors"]),
        f"{f['crashes']} crashes, {f['violations']} violations, "
        f"{f['internal_errors']} internal errors, {f['hello_after']} hello checks")
    n6 = 200_000 if full else 20_000
    p6 = packets6.fuzz_packets6(n6, seed=int(t))
    row("malformed IPv6 frames (live stack)", f"{p6['frames']:,}",
        p6["frames"] >= n6 and p6["counted"] == p6["frames"] and not (
            p6["crashes"] or p6["state_changed"] or p6["violations"]
            or p6["internal_errors"]) and p6["hello_after"] == 1,
        f"{p6['counted']:,} counted and dropped, {len(p6['cases'])} kinds (IPv6, ICMPv6, "
        f"ND, RA, fragments, extension headers, packet too big); state changed: "
        f"{', '.join(p6['state_changed']) or 'nothing'}; {p6['crashes']} crashes, "
        f"{p6['internal_errors']} internal errors")
    clients, ops = 64, (10_000 if full else 1_000)
    ld = harness.load(clients, ops, seed=int(t))
    row("load held (clients × ops)", f"{clients} × {ops:,}",
        ld["answered"] == clients * ops and not ld["order_mismatch"]
        and not ld["model_mismatch"] and ld["state_equal"],
        f"{ld['answered']:,} answered in {ld['seconds']} s, {ld['changes']:,} changes, "
        f"state = sequential model: {ld['state_equal']}")
    s = harness.stalls()
    row("stalled peers while serving", f"{s['stalled_peers']}",
        s["completed"] == s["requests"] and s["trickled_answered"] == 100,
        f"{s['completed']}/{s['requests']} requests, worst {s['worst_ms']} ms")
    b = bad_inputs()
    if b is None:
        row("bad tool inputs tried", "0", False, "tests/test_bad_input.py missing")
    else:
        from tests.test_bad_input import KNOWN_DEVIATIONS
        tried, held, failures = b
        unknown = [f for f in failures if f[0] not in KNOWN_DEVIATIONS]
        row("bad tool inputs tried", f"{tried}", not unknown,
            f"{held} with FreeBSD's message, non-zero exit, state unchanged; "
            f"{len(failures) - len(unknown)} known tool deviation(s)"
            + (f"; failing: {unknown[:3]}" if unknown else ""))
    persistence(row, full)
    hardening_rows(row, full)
    return _print(rows, ok, full, t)


def _print(rows, ok, full, t) -> int:
    width = [max(len(r[i]) for r in rows + [("check", "figure", "held", "")])
             for i in range(3)]
    print(f"{'check':<{width[0]}}  {'figure':>{width[1]}}  held  detail")
    for what, figure, held, detail in rows:
        print(f"{what:<{width[0]}}  {figure:>{width[1]}}  {held:<4}  {detail}")
    print(f"({'full' if full else 'shortened'} run, {time.time() - t:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
