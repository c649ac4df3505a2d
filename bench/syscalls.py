#!/usr/bin/env python3
"""bench/syscalls.sh's helper and report.

    syscalls.py names STRACE_C_OUTPUT        the syscall names strace -c counted
    syscalls.py report DIR FACTS.env > syscalls.md

DIR holds, per pass (KIND = strace | perf, PROXY, CONNS):
    KIND-PROXY-CONNS.txt   strace -c output, or perf stat -x, output
    KIND-PROXY-CONNS.wrk   the wrk line (requests duration rps p50 p99 non2xx sockerr cpu user sys) origin=N
    KIND-PROXY-CONNS.cmd   the command
"""
import os
import re
import sys

STRACE_LINE = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\S+)\s*$")
LABEL = {"strangler": "strangler", "nginx": "NGINX", "haproxy": "HAProxy"}


def strace_counts(path):
    counts, errors = {}, {}
    try:
        for line in open(path):
            m = STRACE_LINE.match(line)
            if m and m.group(3) != "total":
                counts[m.group(3)] = int(m.group(1))
                errors[m.group(3)] = int(m.group(2) or 0)
    except FileNotFoundError:
        pass
    return counts, errors


def perf_counts(path):
    counts, total = {}, None
    try:
        for line in open(path):
            f = line.strip().split(",")
            if len(f) > 2 and f[0].isdigit():
                if f[2] == "raw_syscalls:sys_enter":
                    total = int(f[0])
                elif f[2].startswith("syscalls:sys_enter_"):
                    counts[f[2][len("syscalls:sys_enter_"):]] = int(f[0])
    except FileNotFoundError:
        pass
    return counts, total


def wrk(path):
    try:
        p = open(path).read().split()
        return dict(requests=int(p[0]), rps=float(p[2]), cpu=float(p[7]),
                    failed=int(p[5]) + int(p[6]), origin=int(p[10].split("=")[1]) if len(p) > 10 else 0)
    except (FileNotFoundError, IndexError, ValueError):
        return None


def cmd(path):
    try:
        return open(path).read().strip()
    except FileNotFoundError:
        return "?"


def report(d, fx):
    levels = [int(x) for x in fx.get("levels", "1 50 500").split()]
    proxies = fx.get("proxies", "strangler nginx haproxy").split()
    dur = fx.get("sc_duration", "3")
    h2c = fx.get("sc_proto") == "h2c"
    m = fx.get("sc_streams", "10")
    client = "h2load" if h2c else "wrk"
    o = []
    w = o.append
    w("## System calls per request" + (", HTTP/2 cleartext\n" if h2c else "\n"))
    w(f"Run {fx.get('date', '?')} on commit `{fx.get('commit', '?')}`, strangler {fx.get('strangler', '?')}; "
      f"{fx.get('nginx', '')}, {fx.get('haproxy', '')}; {fx.get('strace', '')}; {fx.get('perf', '')}. "
      f"Pinning: {fx.get('pinning', '?')}. Load average {fx.get('loadavg', '?')} at the start, {fx.get('loadavg_end', '?')} "
      "at the end (other jobs share these cores).\n")
    w(f"`bench/syscalls.sh`. The proxies of `bench/run.sh` (one worker, keep-alive to the origin), GET /api/item. For "
      f"each proxy and number of connections, two passes over the same load: "
      + (f"an h2load -t1 -cN -m{m} -D{dur} run (HTTP/2 with prior knowledge, {m} streams in flight on each connection; "
         "strangler and HAProxy take it on their plain port, NGINX 1.22 on a `listen ... http2` port of its own; "
         "each forwards over HTTP/1.1 keep-alive) that starts " if h2c else f"a wrk -t1 -cN -d{dur}s run that starts ")
      + "1 s after the counter is attached and ends 0.5 s before it is detached, so every request's syscalls are "
      f"counted, its connections' accept and close included; counts divided by the requests {client} completed in that pass.\n")
    w("- **strace**: `strace -c -f -p PID` (NGINX: its worker process; all threads), detached with SIGINT. ptrace "
      "stops the proxy at every syscall, so under strace it runs several times slower (req/s below), and a slower "
      "proxy finds more work per wake-up: fewer epoll_wait and reads per request than at full speed.")
    w("- **perf**: `perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_NAME,...` on the same pids for the names "
      "strace saw: kernel tracepoints, nothing stops, the proxy runs at speed. **These are the per-request figures "
      "to quote**; the strace column shows the breakdown as the issue asked for it.\n" if fx.get("have_perf") == "1"
      else "- perf tracepoints are not available here: strace only.\n")
    for c in levels:
        data = {}
        for p in proxies:
            sc, se = strace_counts(os.path.join(d, f"strace-{p}-{c}.txt"))
            pc, ptot = perf_counts(os.path.join(d, f"perf-{p}-{c}.txt"))
            data[p] = dict(sc=sc, se=se, pc=pc, ptot=ptot, sw=wrk(os.path.join(d, f"strace-{p}-{c}.wrk")),
                           pw=wrk(os.path.join(d, f"perf-{p}-{c}.wrk")))
        w(f"### {c} connection{'s' if c != 1 else ''}\n")
        present = [p for p in proxies if data[p]["sw"] and data[p]["sw"]["requests"]]
        if not present:
            w("not measured\n")
            continue
        names = set()
        for p in present:
            names |= set(data[p]["sc"]) | set(data[p]["pc"])
        def per(p, n, kind):
            x = data[p]
            if kind == "s":
                return x["sc"].get(n, 0) / x["sw"]["requests"]
            if x["pw"] and x["pw"]["requests"] and n in x["pc"]:
                return x["pc"][n] / x["pw"]["requests"]
            return None
        order = sorted(names, key=lambda n: -max(per(p, n, "s") for p in present))
        w("| syscall | " + " | ".join(f"{LABEL.get(p, p)}, strace | {LABEL.get(p, p)}, perf" for p in present) + " |")
        w("|---|" + "---:|---:|" * len(present))
        for n in order:
            if max(per(p, n, "s") for p in present) < 0.0005 and not any((per(p, n, "p") or 0) >= 0.0005 for p in present):
                continue
            cells = []
            for p in present:
                s, q = per(p, n, "s"), per(p, n, "p")
                err = data[p]["se"].get(n, 0)
                cells.append(f"{s:.3f}" + (f" ({err / data[p]['sw']['requests']:.3f} failed)" if err else ""))
                cells.append("–" if q is None else f"{q:.3f}")
            w(f"| {n} | " + " | ".join(cells) + " |")
        tot = []
        for p in present:
            x = data[p]
            tot.append(f"**{sum(x['sc'].values()) / x['sw']['requests']:.2f}**")
            tot.append(f"**{x['ptot'] / x['pw']['requests']:.2f}**" if x["ptot"] and x["pw"] and x["pw"]["requests"] else "–")
        w("| **all syscalls** | " + " | ".join(tot) + " |")
        rq = []
        for p in present:
            x = data[p]
            rq.append(f"{x['sw']['requests']:,} req, {x['sw']['rps']:,.0f}/s")
            rq.append(f"{x['pw']['requests']:,} req, {x['pw']['rps']:,.0f}/s" if x["pw"] else "–")
        w(f"| requests in the pass ({client}), req/s | " + " | ".join(rq) + " |")
        fl = []
        for p in present:
            x = data[p]
            fl.append(f"{x['sw']['failed']} failed, origin saw {x['sw']['origin']:,}")
            fl.append(f"{x['pw']['failed']} failed, origin saw {x['pw']['origin']:,}" if x["pw"] else "–")
        w("| failed requests; requests the origin saw | " + " | ".join(fl) + " |")
        w("")
        w("Commands: " + "; ".join(f"`{cmd(os.path.join(d, f'{k}-{p}-{c}.cmd'))}`" for p in present for k in ("strace", "perf")
                                   if os.path.exists(os.path.join(d, f"{k}-{p}-{c}.cmd"))) +
          (f"; load: `h2load -t1 -c{c} -m{m} -D{dur} -T10 -N10 URL`" if h2c else
           f"; load: `wrk -t1 -c{c} -d{dur}s --latency --timeout 5s -s bench/report.lua URL`") + " pinned with the origin.\n")
    w("The proxies have `bench/run.sh`'s settings: strangler `max_idle: 64`, NGINX `keepalive 64`, HAProxy `http-reuse "
      "always` (no idle limit). Above 64 concurrent requests strangler and NGINX close and open upstream connections "
      "(socket, connect, close, strangler's shutdown, NGINX's ioctl; `bench/scale.sh` has the churn and strangler's "
      "shipped default, 65,536); HAProxy keeps them.\n")
    w("Perf's \"all syscalls\" (raw_syscalls:sys_enter) includes syscalls strace did not see in its pass; a name missing "
      "from the perf column had no tracepoint. Failed = calls that returned an error (EAGAIN from a non-blocking read or "
      "accept, EINPROGRESS from a non-blocking connect, ETIMEDOUT from a futex wait).\n")
    w(f"Wall time: {fx.get('elapsed', '?')} s.")
    return o


def main():
    if sys.argv[1] == "names":
        print(" ".join(sorted(strace_counts(sys.argv[2])[0])))
        return
    fx = {}
    for line in open(sys.argv[3]):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            fx[k] = v
    print("\n".join(report(sys.argv[2], fx)))


if __name__ == "__main__":
    main()
