#!/usr/bin/env python3
"""A loopback TCP proxy for resumption tests (the project's own, so tests need nothing
from outside the tree).

Usage: cutproxy.py LISTEN_PORT_FILE TARGET_PORT [--cut-after-bytes N] [--delay-ms D]

Listens on 127.0.0.1 on a free port, which it writes to LISTEN_PORT_FILE, and forwards
to 127.0.0.1:TARGET_PORT. With --cut-after-bytes, each connection is closed abruptly once
N bytes went from the server to the client. With --delay-ms, every chunk is held back D
milliseconds in each direction. Runs until killed.
"""
import argparse
import asyncio
import os
import socket


async def pump(reader, writer, limit, delay, counter):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if delay:
                await asyncio.sleep(delay)
            if limit is not None:
                room = limit - counter[0]
                if room <= 0:
                    break
                if len(data) > room:
                    data = data[:room]
                counter[0] += len(data)
            writer.write(data)
            await writer.drain()
            if limit is not None and counter[0] >= limit:
                break
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        # An abortive close, like a dropped link, not a polite FIN after a full response.
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
        writer.close()


async def handle(creader, cwriter, target, cut, delay):
    try:
        sreader, swriter = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        cwriter.close()
        return
    counter = [0]
    up = asyncio.ensure_future(pump(creader, swriter, None, delay, [0]))
    down = asyncio.ensure_future(pump(sreader, cwriter, cut, delay, counter))
    done, pending = await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
    for w in (cwriter, swriter):
        w.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port_file")
    ap.add_argument("target", type=int)
    ap.add_argument("--cut-after-bytes", type=int, default=None)
    ap.add_argument("--delay-ms", type=float, default=0)
    a = ap.parse_args()
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, a.target, a.cut_after_bytes, a.delay_ms / 1000.0),
        "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, a.port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
