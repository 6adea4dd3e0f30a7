#!/usr/bin/env python3
"""A TCP relay that paces all traffic through it to one shared rate, as a network link would.

Usage: slowlink.py LISTEN_PORT TARGET_PORT MBIT_PER_S
Benchmarks put it between lade (or its peer) and a registry on loopback: there, an upload
costs only CPU, so a push never waits on the network as it does against a registry across a
real link, and work that overlaps uploads with other work shows no gain.
"""
import asyncio
import sys
import time

CHUNK = 64 * 1024


class Link:
    """One direction of the link: every connection's bytes share its rate, in order."""

    def __init__(self, bytes_per_s):
        self.rate = bytes_per_s
        self.free_at = time.monotonic()

    async def carry(self, n):
        now = time.monotonic()
        self.free_at = max(self.free_at, now) + n / self.rate
        await asyncio.sleep(self.free_at - now)


async def pump(reader, writer, link):
    try:
        while data := await reader.read(CHUNK):
            await link.carry(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main():
    listen, target, mbit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    up, down = Link(mbit * 125_000), Link(mbit * 125_000)

    async def relay(client_r, client_w):
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pump(client_r, server_w, up), pump(server_r, client_w, down))

    server = await asyncio.start_server(relay, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
