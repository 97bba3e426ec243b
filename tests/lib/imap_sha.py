#!/usr/bin/env python3
"""Independent reference for the IMAP tests: lists every message a server serves.

Usage: imap_sha.py HOST PORT USER PASSWORD [--flags]

Prints one line per message, "sha256  folder" (sha256sum layout), for every selectable
folder, using Python's imaplib (a client that shares no code with mailvault) and
BODY.PEEK[] so nothing on the server changes. With --flags: "folder uid flags".
"""
import hashlib
import imaplib
import re
import sys


def folders(conn):
    typ, data = conn.list()
    assert typ == "OK", data
    for line in data:
        if line is None:
            continue
        m = re.match(rb'\((?P<attrs>[^)]*)\) (?:"(?P<d>[^"]*)"|NIL) (?P<name>.*)$', line)
        if not m or b"\\Noselect" in m.group("attrs") or b"\\NonExistent" in m.group("attrs"):
            continue
        name = m.group("name")
        if name.startswith(b'"'):
            name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        yield name.decode()


def main():
    host, port, user, password = sys.argv[1:5]
    want_flags = "--flags" in sys.argv
    conn = imaplib.IMAP4(host, int(port))
    conn.login(user, password)
    for folder in sorted(folders(conn)):
        typ, _ = conn.select('"%s"' % folder, readonly=True)
        assert typ == "OK", folder
        typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])" if not want_flags else "(UID FLAGS)")
        assert typ == "OK", data
        for item in data:
            if isinstance(item, tuple):
                meta, body = item
                if not want_flags:
                    print("%s  %s" % (hashlib.sha256(body).hexdigest(), folder))
                    continue
            else:
                meta = item
            if want_flags and meta:
                m = re.search(rb"UID (\d+)", meta)
                f = re.search(rb"FLAGS \(([^)]*)\)", meta)
                if m:
                    print("%s %s %s" % (folder, m.group(1).decode(), f.group(1).decode() if f else ""))
    conn.logout()


if __name__ == "__main__":
    main()
