#!/usr/bin/env python3
"""Checks lcd's hash chains from an export, independently of lcd.

    lcd verify --export | python3 docs/verify_chain.py

Recomputes each record's hash as docs/INTEGRITY.md specifies, checks every
link against the one before it and the places in between against the cuts.
Prints one line per finding and a summary; exits 1 when anything is wrong.
Standard library only.
"""

import hashlib
import json
import sys

VERSION = 1


def strip(value):
    """Members whose value is null are left out, at any depth."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def canonical(value):
    """Compact JSON, members sorted by name, only the escapes JSON requires."""
    return json.dumps(strip(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def link_hash(record_digest, local_digest, chain_seq, prev_hash):
    return sha256_hex(canonical({
        "v": VERSION,
        "record_digest": record_digest,
        "local_digest": local_digest,
        "chain_seq": chain_seq,
        "prev_hash": prev_hash,
    }))


def check(links, cuts):
    findings = []
    sessions = {}
    for link in links:
        sessions.setdefault(link["session"], ([], []))[0].append(link)
    for cut in cuts:
        sessions.setdefault(cut["session"], ([], []))[1].append(cut)
    for session, (held, cut_list) in sorted(sessions.items()):
        # Links and cuts in place order; a cut before a link at the same place.
        pieces = [(c["first_seq"], 0, c) for c in cut_list] + [(l["chain_seq"], 1, l) for l in held]
        pieces.sort(key=lambda p: (p[0], p[1]))
        expected, last_hash = 1, None
        for start, kind, piece in pieces:
            is_link = kind == 1
            prev = piece["prev_hash"] if is_link else piece.get("first_prev_hash")
            if start > expected:
                to = start - 1
                places = f"place {expected} is" if expected == to else f"places {expected}..{to} are"
                before = f", before record {piece['uuid']}" if is_link else ""
                findings.append(f"session {session}: gap: {places} missing{before} (deleted, or never arrived)")
            elif prev != last_hash and is_link:
                findings.append(f"session {session}: record {piece['uuid']} (place {start}) does not link to the record before it")
            elif prev != last_hash:
                findings.append(f"session {session}: the cut of places {start}..{piece['last_seq']} does not link to the record before it")
            if is_link:
                digest = sha256_hex(canonical(piece.get("local", {})))
                content = sha256_hex(canonical(piece["record"]))
                fits = digest == piece.get("local_digest") and link_hash(
                    content, digest, piece["chain_seq"], piece["prev_hash"]) == piece["hash"]
                if not fits:
                    findings.append(f"session {session}: record {piece['uuid']} (place {start}) was changed")
                expected, last_hash = start + 1, piece["hash"]
            else:
                expected, last_hash = piece["last_seq"] + 1, piece["last_hash"]
    return findings, len(sessions)


def main():
    links, cuts = [], []
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as e:
            sys.exit(f"line {number} is not JSON: {e}")
        if "link" in entry:
            links.append(entry["link"])
        elif "cut" in entry:
            cuts.append(entry["cut"])
        else:
            sys.exit(f"line {number} is neither a link nor a cut")
    findings, sessions = check(links, cuts)
    counted = f"{len(links)} records in {sessions} sessions"
    for finding in findings:
        print(finding)
    if findings:
        print(f"NOT intact: {len(findings)} problems in {counted}")
        return 1
    print(f"intact: {counted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
