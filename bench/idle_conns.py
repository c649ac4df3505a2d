#!/usr/bin/env python3
"""Open N idle keep-alive connections to HOST:PORT and hold them.

    idle_conns.py --port 28105 [--host 127.0.0.1] [-n 10000] [--request]
                  [--ready-file F] [--hold 60]

Connects with non-blocking sockets (a bounded number of connects in flight),
optionally sends one keep-alive `GET /` on each and reads its response (in
batches, so the proxy never has more than --batch requests in flight), then
touches --ready-file and holds every connection open until SIGTERM or --hold
seconds have passed. Prints one summary line to stdout when ready.
"""
import argparse
import errno
import os
import resource
import selectors
import signal
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit(f"idle_conns: need {want} file descriptors, hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def connect_all(host, port, n, inflight, deadline):
    sel = selectors.DefaultSelector()
    done, pending, started, failed = [], 0, 0, 0
    while len(done) + failed < n:
        while pending < inflight and started < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((host, port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
            else:
                sel.register(s, selectors.EVENT_WRITE)
                pending += 1
            started += 1
        if time.monotonic() > deadline:
            break
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            sel.unregister(s)
            pending -= 1
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                done.append(s)
            else:
                s.close()
                failed += 1
    sel.close()
    return done, failed


def request_all(socks, host, port, batch, deadline):
    req = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: keep-alive\r\n\r\n".encode()
    ok = bad = 0
    for i in range(0, len(socks), batch):
        group = socks[i:i + batch]
        sel = selectors.DefaultSelector()
        bufs = {}
        for s in group:
            try:
                s.send(req)
                sel.register(s, selectors.EVENT_READ)
                bufs[s] = b""
            except OSError:
                bad += 1
        while bufs and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                try:
                    chunk = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(s)
                    del bufs[s]
                    bad += 1
                    continue
                bufs[s] += chunk
                if complete(bufs[s]):
                    sel.unregister(s)
                    ok += 1 if bufs[s].startswith(b"HTTP/1.1 2") else 0
                    bad += 0 if bufs[s].startswith(b"HTTP/1.1 2") else 1
                    del bufs[s]
        bad += len(bufs)
        sel.close()
    return ok, bad


def complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True  # chunked or no body: good enough for a 1 KiB answer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--request", action="store_true", help="send one keep-alive request on each")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--inflight", type=int, default=500, help="connects in flight at once")
    ap.add_argument("--ready-file")
    ap.add_argument("--hold", type=float, default=60.0)
    a = ap.parse_args()

    raise_nofile(a.n)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    t0 = time.monotonic()
    deadline = t0 + 60
    socks, failed = connect_all(a.host, a.port, a.n, a.inflight, deadline)
    ok = bad = 0
    if a.request:
        ok, bad = request_all(socks, a.host, a.port, a.batch, deadline)
    print(f"connected={len(socks)} connect_failed={failed} responses_ok={ok} responses_bad={bad} "
          f"setup_s={time.monotonic() - t0:.1f}", flush=True)
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write(f"{len(socks)}\n")
    end = time.monotonic() + a.hold
    while not stop and time.monotonic() < end:
        time.sleep(0.1)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
