#!/usr/bin/env python3
"""Independent reference for the POP3 tests: what a POP3 server serves, message by message.

Usage: pop3_sha.py HOST PORT USER PASSWORD [--imap-port P] [--stat | --uidl]

Default: one line per message, "sha256  uidl" (sha256sum layout), using Python's poplib (a
client that shares no code with mailvault, or with libcurl). RETR gives the message's lines
with the byte-stuffing undone (RFC 1939: poplib drops the first '.' of a line starting
"..") and without line ends; the message is those lines each followed by CR LF, exactly as
served. A message without a final newline has no way to say so in POP3: the server adds the
line end the terminating "." needs, and LIST still counts the message without it. So when
the rebuilt message is LIST's size plus those two bytes, they are dropped.

--imap-port P: also fetch INBOX over IMAP (BODY.PEEK[], in sequence order, which is
Dovecot's POP3 order) and fail unless every POP3 message equals its IMAP bytes: both are
what the server stores, so a mismatch means this reference is wrong.
--stat: print "COUNT OCTETS" (STAT) and nothing else.  --uidl: print the UIDLs.
Nothing on the server changes: no DELE, and QUIT ends the session.
"""
import argparse
import hashlib
import imaplib
import poplib
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("--imap-port", type=int)
    ap.add_argument("--stat", action="store_true")
    ap.add_argument("--uidl", action="store_true")
    a = ap.parse_args()

    pop = poplib.POP3(a.host, a.port, timeout=60)
    pop.user(a.user)
    pop.pass_(a.password)
    try:
        if a.stat:
            count, octets = pop.stat()
            print(count, octets)
            return 0
        _, uidl_lines, _ = pop.uidl()
        uidls = dict(l.decode().split(" ", 1) for l in uidl_lines)
        if a.uidl:
            for num in sorted(uidls, key=int):
                print(uidls[num])
            return 0
        _, list_lines, _ = pop.list()
        sizes = {int(n): int(s) for n, s in (l.decode().split()[:2] for l in list_lines)}
        messages = []
        for num in sorted(sizes):
            _, lines, _ = pop.retr(num)
            data = b"".join(line + b"\r\n" for line in lines)
            if len(data) == sizes[num] + 2:
                data = data[:-2]
            if len(data) != sizes[num]:
                print("message %d: %d bytes, LIST says %d" % (num, len(data), sizes[num]),
                      file=sys.stderr)
                return 1
            messages.append((num, data))
    finally:
        pop.quit()

    if a.imap_port:
        imap = imaplib.IMAP4(a.host, a.imap_port)
        imap.login(a.user, a.password)
        imap.select("INBOX", readonly=True)
        typ, data = imap.fetch("1:*", "(BODY.PEEK[])") if messages else ("OK", [])
        assert typ == "OK", data
        bodies = [item[1] for item in data if isinstance(item, tuple)]
        imap.logout()
        if len(bodies) != len(messages):
            print("IMAP serves %d messages, POP3 %d" % (len(bodies), len(messages)),
                  file=sys.stderr)
            return 1
        for (num, body), other in zip(messages, bodies):
            if body != other:
                print("message %d: POP3 and IMAP bytes differ (%d and %d bytes)"
                      % (num, len(body), len(other)), file=sys.stderr)
                return 1

    for num, body in messages:
        print("%s  %s" % (hashlib.sha256(body).hexdigest(), uidls[str(num)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
