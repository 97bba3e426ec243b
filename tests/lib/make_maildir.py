#!/usr/bin/env python3
"""Writes a deterministic Maildir of N plain messages for tests that need volume.

Usage: make_maildir.py OUTDIR N [--seed S] [--body-bytes B]

Messages are distinct (each has its own Message-ID and numbered body), ~B bytes each,
with a few flags, so a sync of a few thousand takes long enough to interrupt.
"""
import os
import random
import sys


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
    size = int(sys.argv[sys.argv.index("--body-bytes") + 1]) if "--body-bytes" in sys.argv else 2000
    rng = random.Random(seed)
    words = ("archive mailbox server folder message sync backup index search restore "
             "quarterly report meeting budget review patch kernel release").split()
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    t0 = 1500000000
    for i in range(n):
        body = []
        while sum(len(x) + 1 for x in body) < size:
            body.append(" ".join(rng.choice(words) for _ in range(12)))
        msg = ("From: Sender %d <sender%d@example.com>\n"
               "To: Test <test@example.org>\n"
               "Subject: Test message %d of seed %d\n"
               "Date: Mon, 10 Jul 2017 10:%02d:%02d +0000\n"
               "Message-ID: <m%d.s%d@example.com>\n"
               "\n%s\n" % (i % 50, i % 50, i, seed, (i // 60) % 60, i % 60, i, seed,
                           "\n".join(body)))
        flags = "".join(sorted(c for c, p in (("S", 0.6), ("F", 0.05), ("R", 0.1))
                               if rng.random() < p))
        name = "%d.M%dP%d.test:2,%s" % (t0 + i, i, seed, flags)
        path = os.path.join(out, "cur", name)
        with open(path, "w") as f:
            f.write(msg)
        os.utime(path, (t0 + i, t0 + i))


if __name__ == "__main__":
    main()
