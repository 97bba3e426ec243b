#!/usr/bin/env python3
"""The protocol floor for the sync benchmark: every message body, as fast as IMAP allows.

Usage: raw_fetch.py HOST PORT USER PASSWORD [--items ITEMS]

One connection, LOGIN, LIST, then for each selectable folder EXAMINE and one
`UID FETCH 1:* ITEMS` (default "(BODY.PEEK[])"), every byte read and thrown away.
Prints "folders F messages M literal_bytes L bytes_read B seconds S" (seconds from
connect to LOGOUT). Literal-aware: a {N} literal is skipped by count, so a body line that
looks like a tagged response cannot end a command early. Nothing on the server changes
(EXAMINE, BODY.PEEK). Standard library only, no code shared with mailvault.
"""
import re
import socket
import sys
import time

LITERAL = re.compile(rb"\{(\d+)\+?\}$")
LIST_LINE = re.compile(rb'^\* LIST \((?P<attrs>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=300)
        self.buf = bytearray()
        self.pos = 0
        self.bytes_read = 0
        self.literal_bytes = 0
        self.ntag = 0

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.bytes_read += len(data)
        if self.pos > (1 << 20):
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += data

    def _line(self):
        """One physical line without CRLF."""
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos : i])
                self.pos = i + 2
                return line
            self._fill()

    def _skip(self, n):
        self.literal_bytes += n
        have = len(self.buf) - self.pos
        if have >= n:
            self.pos += n
            return
        n -= have
        del self.buf[:]
        self.pos = 0
        while n > 0:
            data = self.sock.recv(min(n, 1 << 20))
            if not data:
                raise ConnectionError("server closed the connection inside a literal")
            self.bytes_read += len(data)
            n -= len(data)

    def response(self):
        """One logical response line; literal contents replaced by {N} and skipped."""
        parts = []
        while True:
            line = self._line()
            parts.append(line)
            m = LITERAL.search(line)
            if not m:
                return b"".join(parts)
            self._skip(int(m.group(1)))

    def command(self, text):
        self.ntag += 1
        tag = b"r%d" % self.ntag
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        untagged = []
        while True:
            line = self.response()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1 :].startswith(b"OK"):
                    raise RuntimeError("%s failed: %r" % (text.split()[0], line))
                return untagged
            untagged.append(line)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    args = sys.argv[1:]
    items = "(BODY.PEEK[])"
    if "--items" in args:
        i = args.index("--items")
        items = args[i + 1]
        del args[i : i + 2]
    if len(args) != 4:
        sys.exit(__doc__)
    host, port, user, password = args
    t0 = time.monotonic()
    c = Conn(host, int(port))
    greeting = c.response()
    if not greeting.startswith(b"* OK"):
        sys.exit("raw_fetch: unexpected greeting %r" % greeting)
    c.command("LOGIN %s %s" % (quote(user), quote(password)))
    folders = []
    for line in c.command('LIST "" "*"'):
        m = LIST_LINE.match(line)
        if not m or b"\\noselect" in m.group("attrs").lower() or b"\\nonexistent" in m.group("attrs").lower():
            continue
        name = m.group("name")
        if name.startswith(b'"'):
            name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        folders.append(name.decode())
    messages = 0
    for f in sorted(folders):
        c.command("EXAMINE %s" % quote(f))
        messages += sum(1 for line in c.command("UID FETCH 1:* %s" % items) if b" FETCH " in line)
    c.command("LOGOUT")
    secs = time.monotonic() - t0
    print("folders %d messages %d literal_bytes %d bytes_read %d seconds %.3f"
          % (len(folders), messages, c.literal_bytes, c.bytes_read, secs))


if __name__ == "__main__":
    main()
