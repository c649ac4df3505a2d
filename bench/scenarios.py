#!/usr/bin/env python3
"""Markdown reports of the scenario scripts (tls.sh, mirror.sh, scale.sh, pingora.sh;
syscalls.sh has its own, syscalls.py).

    scenarios.py NAME RESULTS.tsv FACTS.env > NAME.md

RESULTS.tsv: one run a line (as bench/run.sh's, plus key=value extras):
    target conns round requests duration_s rate p50_us p99_us non2xx sockerr cpu_us user_us sys_us [key=value ...]
`rate` is req/s (or connections/s for handshakes); cpu_us is the proxy's CPU per request (or connection).
"""
import statistics
import sys

from summarize import facts, us  # the same as bench/run.sh's report


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 13:
                continue
            r = dict(target=p[0], conns=int(p[1]), round=int(p[2]), requests=int(p[3]), dur=float(p[4]),
                     rps=float(p[5]), p50=int(p[6]), p99=int(p[7]), non2xx=int(p[8]), sockerr=int(p[9]),
                     cpu=float(p[10]), cpu_u=float(p[11]), cpu_s=float(p[12]))
            for kv in p[13:]:
                if "=" in kv:
                    k, v = kv.split("=", 1)
                    try:
                        r[k] = float(v)
                    except ValueError:
                        r[k] = v
            rows.append(r)
    return rows


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cpu(v):
    return "–" if v is None else f"{v:.1f} µs"


def num(v, fmt="{:,.0f}"):
    return "–" if v is None else fmt.format(v)


def sel(rows, target, conns=None):
    return [r for r in rows if r["target"] == target and (conns is None or r["conns"] == conns)]


def stat(rows, target, conns=None):
    """Medians over rounds of one target's runs (None when it has none)."""
    rs = sel(rows, target, conns)
    ok = [r for r in rs if r["requests"] > 0]
    if not rs:
        return None
    rps = [r["rps"] for r in ok]
    return dict(
        n=len(ok), rps=med(rps), lo=min(rps) if rps else None, hi=max(rps) if rps else None,
        p50=med([r["p50"] for r in ok]), p99=med([r["p99"] for r in ok]),
        cpu=med([r["cpu"] for r in ok]), cpu_u=med([r["cpu_u"] for r in ok]), cpu_s=med([r["cpu_s"] for r in ok]),
        # share of one core the proxy was busy: CPU per request x requests per second
        busy=med([r["cpu"] * r["rps"] / 1e4 for r in ok]),
        failed=sum(r["non2xx"] + r["sockerr"] for r in rs), requests=sum(r["requests"] for r in rs),
        non2xx=sum(r["non2xx"] for r in rs), sockerr=sum(r["sockerr"] for r in rs),
        extra=lambda k: med([r.get(k) for r in ok if isinstance(r.get(k), float)]),
        extra_sum=lambda k: sum(r.get(k, 0) for r in rs if isinstance(r.get(k), float)),
    )


def per_round(rows, a, b, field, conns_a=None, conns_b=None):
    """a's value over b's, for each round that measured both."""
    by = {}
    for key, t, c in (("a", a, conns_a), ("b", b, conns_b)):
        for r in sel(rows, t, c):
            if r["requests"] > 0 and r[field]:
                by.setdefault(r["round"], {})[key] = r[field]
    return [v["a"] / v["b"] for _, v in sorted(by.items()) if "a" in v and "b" in v]


def spread(xs):
    return "–" if not xs else f"{med(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def rng(s):
    return f"{num(s['rps'])} ({num(s['lo'])}–{num(s['hi'])})"


def header(fx, title, what):
    out = [f"## {title}\n",
           f"Run {fx.get('date', '?')} on commit `{fx.get('commit', '?')}`, strangler {fx.get('strangler', '?')}; "
           f"{fx.get('cpu', '?')}, {fx.get('ncpu', '?')} CPUs, load average {fx.get('loadavg', '?')} at the start, "
           f"{fx.get('loadavg_end', '?')} at the end (other jobs share these cores). "
           f"{fx.get('nginx', '')}{', ' + fx['haproxy'] if 'haproxy' in fx else ''}; {fx.get('wrk', '')}. "
           f"{fx.get('rounds', '?')} interleaved rounds, {fx.get('duration', '?')} s per load run. "
           f"Pinning: {fx.get('pinning', '?')}.\n", what]
    return out


def pair_table(rows, pairs, unit="req/s"):
    """pairs: (label, a_target, b_target, conns, a_name, b_name): A (strangler, mostly) against B, its peer."""
    out = [f"| run: A / B | {unit}, B | {unit}, A | A/B, paired: median (min–max) | rounds A ahead | "
           "CPU per op, B | CPU per op, A | CPU A/B, paired | rounds A used less CPU |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, a, b, conns, an, bn in pairs:
        sa, sb = stat(rows, a, conns), stat(rows, b, conns)
        if not sa or not sb:
            continue
        rr, cr = per_round(rows, a, b, "rps", conns, conns), per_round(rows, a, b, "cpu", conns, conns)
        out.append(f"| {label}: {an} / {bn} | {rng(sb)} | {rng(sa)} | {spread(rr)} | {sum(x >= 1 for x in rr)} of {len(rr)} | "
                   f"{cpu(sb['cpu'])} | {cpu(sa['cpu'])} | {spread(cr)} | {sum(x <= 1 for x in cr)} of {len(cr)} |")
    out.append("")
    return out


def target_table(rows, targets, conns=None, extras=()):
    """targets: (key, label). extras: (key, header, fmt) medians of key=value columns."""
    if any("client" in r for r in rows):
        extras = tuple(extras) + (("client", "load generator CPU per request", lambda s: cpu(s["extra"]("client"))),)
    out = ["| target | req/s (median) | min–max | p50 | p99 | proxy CPU per request (user + sys) | proxy core busy | failed |"
           + "".join(f" {h} |" for _, h, _ in extras),
           "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(extras)]
    for key, label in targets:
        s = stat(rows, key, conns)
        if not s:
            continue
        ex = "".join(f" {f(s)} |" for _, _, f in extras)
        out.append(f"| {label} | {num(s['rps'])} | {num(s['lo'])}–{num(s['hi'])} | {us(s['p50'])} | {us(s['p99'])} | "
                   f"{cpu(s['cpu'])} ({s['cpu_u']:.1f} + {s['cpu_s']:.1f}) | {num(s['busy'], '{:.0f}%')} | "
                   f"{s['failed']:,} of {s['requests']:,} |" + ex)
    out.append("")
    return out


NOTES = ("Paired by round: each round runs the targets back to back, the two runs of a compared pair next to "
         "each other (the order reversed or rotated from round to round), each after a `sync`; the ratio is "
         "taken within the round, and the table gives the median of the per-round ratios, their range and in how many "
         "rounds strangler was ahead. CPU per op = the proxy's utime+stime (/proc/PID/stat, with its children) over the "
         "run divided by what the load generator completed; proxy core busy = CPU per request x req/s (100% = one core). "
         "Failed = non-2xx answers + socket errors.\n")


def footer(w, fx):
    """The notes, the proxies' log lines that say error/warn/panic/alert, the wall time."""
    w(NOTES)
    for k in sorted(fx):
        if k.startswith("log_") and fx[k] not in ("0", ""):
            t = k[4:]
            tail = fx.get("logtail_" + t) or fx.get(f"{t}_log_tail", "")
            w(f"{t}'s log has {fx[k]} lines with error/warn/panic/alert" + (f": `{tail}`" if tail else "") + ".\n")
    w(f"Wall time: {fx.get('elapsed', '?')} s.")


def tls(rows, fx):
    o = header(fx, "TLS termination: strangler vs NGINX", (
        f"`bench/tls.sh`. One ECDSA P-256 self-signed certificate for both; NGINX `listen ... ssl http2`, "
        "`ssl_protocols TLSv1.3`, `ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256`, `ssl_session_cache shared` "
        "with `ssl_session_tickets off` (stateful resumption, as rustls' default); strangler `tls: { cert, key }` "
        "(rustls, ring provider, its defaults). Both: one worker, pinned alone on the proxy core, keep-alive to the "
        "plain-HTTP origin. The clients (all OpenSSL) offer only TLS 1.3 with TLS_AES_128_GCM_SHA256.\n"))
    w = o.append
    w("What `openssl s_client -alpn h2,http/1.1` negotiates:\n")
    w("| server | OpenSSL's default client offer | the bench's client (TLS 1.3, AES-128-GCM only) | h2load |")
    w("|---|---|---|---|")
    for t, label in (("nginx", "NGINX"), ("strangler", "strangler")):
        w(f"| {label} | {fx.get('neg_default_' + t, '?')} | {fx.get('neg_bench_' + t, '?')} | {fx.get('h2load_' + t, '?')} |")
    w(f"\nCertificate: {fx.get('cert', '?')}. {fx.get('openssl', '')}, h2load {fx.get('h2load', '?')}.\n")
    w("### Handshakes\n")
    w(f"`openssl s_time -connect 127.0.0.1:PORT -new|-reuse -time {fx.get('hs_duration')} -www /api/item`: one client, "
      "one connection after the other, each a handshake (full with `-new`, resumed with `-reuse`) plus one "
      "HTTP/1.0 GET proxied to the origin, then close. The rate is the wall-clock one (s_time's own is in whole "
      "seconds). One synchronous client on the load core does as much TLS work per connection as the server, so the "
      "rate is bounded by the client (see the proxy's core busy); **CPU per connection is the proxy's cost** and the "
      "figure to compare.\n")
    o += pair_table(rows, [
        ("full handshake + 1 request", "strangler/new", "nginx/new", 1, "strangler", "NGINX"),
        ("resumed handshake + 1 request", "strangler/reuse", "nginx/reuse", 1, "strangler", "NGINX"),
    ], unit="connections/s")
    w("| server | full: conn/s | proxy CPU per conn | proxy core busy | client CPU per conn | resumed: conn/s | proxy CPU per conn | "
      "proxy core busy | client CPU per conn | resumed connections / all (reuse runs) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t, label in (("nginx", "NGINX"), ("strangler", "strangler")):
        n, r = stat(rows, f"{t}/new"), stat(rows, f"{t}/reuse")
        if n and r:
            w(f"| {label} | {num(n['rps'])} | {cpu(n['cpu'])} ({n['cpu_u']:.1f} + {n['cpu_s']:.1f}) | {num(n['busy'], '{:.0f}%')} | "
              f"{cpu(n['extra']('client'))} | {num(r['rps'])} | {cpu(r['cpu'])} ({r['cpu_u']:.1f} + {r['cpu_s']:.1f}) | "
              f"{num(r['busy'], '{:.0f}%')} | {cpu(r['extra']('client'))} | "
              f"{r['extra_sum']('reused'):,.0f} / {r['requests']:,} |")
    w("")
    w("### Requests over TLS\n")
    c, m = fx.get("conns", "50"), fx.get("streams", "10")
    w(f"HTTP/1.1: `wrk -t1 -c{c} -d{fx.get('duration')}s https://127.0.0.1:PORT/api/item` (no ALPN: HTTP/1.1), and the "
      f"same load from a second client, `h2load --h1 -t1 -c{c} -m1 -D{fx.get('duration')}` (wrk sends the IP address as SNI, "
      "h2load sends none). "
      f"HTTP/2: `h2load -t1 -c{c} -m{m} -D{fx.get('duration')} https://127.0.0.1:PORT/api/item` (ALPN h2; "
      "p50/p99 from its per-request log). Connections (and their handshakes) are made once, at the start. "
      f"At one connection with one request in flight (a browser tab waiting on each answer): `wrk -t1 -c1` "
      f"and `h2load -t1 -c1 -m1`, {fx.get('duration')} s each.\n")
    cover = fx.get("cover", "?")
    w(f"HTTP/2 puts {int(c) * int(m)} requests in flight, so it runs twice: against the pair above, which keep at most "
      f"64 idle upstream connections (`keepalive 64`, `max_idle: 64`), fewer than the load needs; and against a "
      f"second pair whose cap covers it (`keepalive {cover}`, `max_idle: {cover}`), as an operator sizes it for this "
      "load. Under the smaller cap both close connections the load needs again a moment later and open new ones; "
      "the last table counts them (the origin's accepted connections during each run, over its requests).\n")
    o += pair_table(rows, [
        (f"HTTP/1.1 @{c} (wrk)", "strangler/h1", "nginx/h1", int(c), "strangler", "NGINX"),
        (f"HTTP/1.1 @{c} (h2load --h1)", "strangler/h1-h2load", "nginx/h1-h2load", int(c), "strangler", "NGINX"),
        (f"HTTP/2 @{c}x{m}, idle cap {cover}", "strangler/h2-cover", "nginx/h2-cover", int(c), "strangler", "NGINX"),
        (f"HTTP/2 @{c}x{m}, idle cap 64", "strangler/h2", "nginx/h2", int(c), "strangler", "NGINX"),
        ("HTTP/1.1 @1 (wrk -c1)", "strangler/h1-one", "nginx/h1-one", 1, "strangler", "NGINX"),
        ("HTTP/2 @1x1 (h2load -c1 -m1)", "strangler/h2-one", "nginx/h2-one", 1, "strangler", "NGINX"),
    ])
    o += target_table(rows, [("nginx/h1", f"NGINX, HTTP/1.1 @{c}"), ("strangler/h1", f"strangler, HTTP/1.1 @{c}"),
                             ("nginx/h1-h2load", f"NGINX, HTTP/1.1 @{c}, h2load --h1"),
                             ("strangler/h1-h2load", f"strangler, HTTP/1.1 @{c}, h2load --h1"),
                             ("nginx/h2-cover", f"NGINX, HTTP/2 @{c}x{m}, idle cap {cover}"),
                             ("strangler/h2-cover", f"strangler, HTTP/2 @{c}x{m}, idle cap {cover}"),
                             ("nginx/h2", f"NGINX, HTTP/2 @{c}x{m}, idle cap 64"),
                             ("strangler/h2", f"strangler, HTTP/2 @{c}x{m}, idle cap 64")])
    o += target_table(rows, [("nginx/h1-one", "NGINX, HTTP/1.1 @1"), ("strangler/h1-one", "strangler, HTTP/1.1 @1"),
                             ("nginx/h2-one", "NGINX, HTTP/2 @1x1"), ("strangler/h2-one", "strangler, HTTP/2 @1x1")], 1)
    w("Upstream connections opened per request, HTTP/2 (all rounds):\n")
    w("| idle cap | NGINX | strangler |")
    w("|---|---:|---:|")
    for key, label in (("h2-cover", str(cover)), ("h2", "64")):
        cells = []
        for t in ("nginx", "strangler"):
            st = stat(rows, f"{t}/{key}", int(c))
            cells.append("–" if not st or not st["requests"] else
                         f"{st['extra_sum']('upconns') / st['requests']:.3f} ({st['extra_sum']('upconns'):,.0f})")
        w(f"| {label} | {cells[0]} | {cells[1]} |")
    w("")
    footer(w, fx)
    return o


def mirror(rows, fx):
    c = int(fx.get("conns", 50))
    o = header(fx, "Shadowing: strangler's shadowed route vs NGINX `mirror`", (
        "`bench/mirror.sh`. The proxies of `bench/run.sh` (one worker, alone on the proxy core, keep-alive to the "
        "origin). NGINX: `location /shadowed { mirror /mirror; proxy_pass http://origin; }` and "
        "`location = /mirror { internal; proxy_pass http://shadowsvc$request_uri; }`, upstream `shadowsvc` with "
        "`keepalive 64` (HTTP/1.1, `Connection \"\"`). strangler: the route `/shadowed` with "
        "`shadow: {upstream: shadowsvc, sample: 1.0}`, `max_idle: 64`. The shadow service is a second NGINX with the "
        f"same body; its stub_status counts the copies and the connections it accepted. wrk -t1 -c{c}, "
        f"{fx.get('duration')} s per run; plain runs on `/api/item`, shadowed on `/shadowed/item`. "
        f"Check before the runs: {fx.get('check_copies', '?')}.\n"))
    w = o.append
    o += target_table(rows, [("nginx", "NGINX, plain"), ("nginx-mirror", "NGINX, `mirror`"),
                             ("strangler", "strangler, plain"), ("strangler-shadow", "strangler, shadowed (`sample: 1.0`)")], c)
    w("### Each one's cost against its own plain run (paired by round)\n")
    w("| proxy | req/s, plain | req/s, shadowed | throughput cost, paired (min–max) | CPU per request, plain | shadowed | "
      "CPU increase, paired (min–max) | p99 plain → shadowed | copies received / shadowed requests | "
      "new connections to the shadow (all runs) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for plain, sh, label in (("nginx", "nginx-mirror", "NGINX `mirror`"), ("strangler", "strangler-shadow", "strangler shadow")):
        a, b = stat(rows, plain, c), stat(rows, sh, c)
        if not a or not b:
            continue
        cost = [(1 - x) * 100 for x in per_round(rows, sh, plain, "rps", c, c)]
        inc = [(x - 1) * 100 for x in per_round(rows, sh, plain, "cpu", c, c)]
        pct = lambda xs: "–" if not xs else f"{med(xs):.1f}% ({min(xs):.1f}–{max(xs):.1f}%)"
        copies, sent = b["extra_sum"]("copies"), b["requests"]
        w(f"| {label} | {num(a['rps'])} | {num(b['rps'])} | {pct(cost)} | {cpu(a['cpu'])} | {cpu(b['cpu'])} | {pct(inc)} | "
          f"{us(a['p99'])} → {us(b['p99'])} | {copies:,.0f} / {sent:,} ({copies / sent * 100 if sent else 0:.1f}%) | "
          f"{b['extra_sum']('shadow_conns'):,.0f} |")
    w("")
    w("### strangler against NGINX\n")
    o += pair_table(rows, [(f"plain @{c}", "strangler", "nginx", c, "strangler", "NGINX"),
                           (f"shadowed @{c}", "strangler-shadow", "nginx-mirror", c, "strangler", "NGINX")])
    w("Connections: new connections the shadow server accepted during the shadowed runs (stub_status `accepts`, "
      "the script's own status requests taken off), and the origin's, per run (median):\n")
    w("| target | new origin connections per run | new shadow connections per run | copies per run |")
    w("|---|---:|---:|---:|")
    for t in ("nginx", "nginx-mirror", "strangler", "strangler-shadow"):
        s = stat(rows, t, c)
        if s:
            w(f"| {t} | {num(s['extra']('origin_conns'))} | {num(s['extra']('shadow_conns'))} | {num(s['extra']('copies'))} |")
    w(f"\nAt the end: {fx.get('shadow_active_end', '?')} connections open at the shadow server, "
      f"{fx.get('shadow_tw', '?')} sockets to or from it in TIME_WAIT. Copies of requests still in flight when wrk "
      "stopped are counted (0.3 s after it). NGINX's `mirror` holds the client connection's next request until "
      "the mirror subrequest has finished; strangler sends the copy beside the request and answers the client "
      "without waiting for it.\n")
    footer(w, fx)
    return o


def scale(rows, fx):
    levels = [int(x) for x in fx.get("levels", "50 500 5000").split()]
    o = header(fx, "Many connections, upstream churn, two workers", (
        "`bench/scale.sh`. Proxies as in `bench/run.sh` (one worker, keep-alive to the origin: NGINX `keepalive 64`, "
        "HAProxy `http-reuse always`, strangler `max_idle: 64`), plus strangler with the **shipped defaults** (no "
        "`max_idle` in its config: 65,536 idle connections kept since commit 626e2d5, 1,024 before), and NGINX with "
        "`keepalive 1024` beside it. Each proxy has its "
        "own origin port. wrk -t1 at each level; every measured run follows "
        f"{fx.get('level_warmup', '1')} s of the same load (unmeasured), so that the pools are filled to the level's concurrency; "
        f"`ulimit -n` {fx.get('nofile', '?')}; HAProxy maxconn {fx.get('haproxy_maxconn', '?')}; NGINX "
        f"worker_connections 20000. {fx.get('sysctl', '')}.\n"))
    w = o.append
    names = [("nginx", "NGINX (keepalive 64)"), ("nginx-ka1024", "NGINX (keepalive 1024)"), ("haproxy", "HAProxy"),
             ("strangler", "strangler (max_idle 64)"), ("strangler-default", "strangler (shipped defaults)")]
    for c in levels:
        w(f"### {c:,} connections (pinned)\n")
        o += target_table(rows, names, c)
        o += pair_table(rows, [(f"@{c}", "strangler", "nginx", c, "strangler max_idle 64", "NGINX keepalive 64"),
                               (f"@{c}", "strangler", "haproxy", c, "strangler max_idle 64", "HAProxy"),
                               (f"@{c}", "strangler-default", "nginx-ka1024", c, "strangler defaults", "NGINX keepalive 1024"),
                               (f"@{c}", "strangler-default", "haproxy", c, "strangler defaults", "HAProxy")])
    w("### New upstream connections and TIME_WAIT\n")
    w("New connections the origin accepted during each run (its stub_status `accepts`; the script's status request "
      "taken off), per run and per second of run; sockets in TIME_WAIT at the end of the run between that proxy and "
      "its own origin port (`ss -Htano state time-wait '( dport = :P or sport = :P )'`), all of them and those that "
      "entered TIME_WAIT during this run (time left ≥ 59 s − the run's length); and `ss -Htan state time-wait | wc -l` "
      "for the whole machine (wrk's closed client connections of every run of the last minute included). Medians "
      "over rounds. Idle pooled connections that time out (left from a run at a higher level) land in TIME_WAIT too, "
      "so TIME_WAIT without new connections is not churn: **new connections per second is the churn**. HAProxy "
      "closes with a reset, which leaves no TIME_WAIT.\n")
    w("| proxy | connections | new upstream conns per run | per second | TIME_WAIT, its origin port | of them from this run | "
      "TIME_WAIT, whole machine |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for c in levels:
        for key, label in names:
            s = stat(rows, key, c)
            if s:
                w(f"| {label} | {c:,} | {num(s['extra']('upconns'))} | {num(s['extra']('upconns_s'))} | {num(s['extra']('tw'))} | "
                  f"{num(s['extra']('tw_fresh'))} | {num(s['extra']('tw_all'))} |")
    w("")
    wc = int(fx.get("w_conns", 50))
    w(f"### Two workers, unpinned, {wc} connections\n")
    w("Nothing pinned: wrk (-t1), the origin and the proxy share both cores, so req/s is what the machine does as a "
      "whole and the **proxy's CPU per request** is the fair comparison. NGINX `worker_processes 1` and `2`; "
      f"strangler `workers: 1` and `2` (NGINX with 2: {fx.get('nginx_w2_workers', '?')} worker processes; strangler "
      f"with 2: {fx.get('strangler_w2_threads', '?')}). The one-worker rows are the pinned processes above, unpinned "
      "for these runs.\n")
    u = [("nginx@unpinned", "NGINX, 1 worker"), ("nginx-w2@unpinned", "NGINX, 2 workers"),
         ("strangler@unpinned", "strangler, workers: 1"), ("strangler-w2@unpinned", "strangler, workers: 2")]
    o += target_table(rows, u, wc)
    o += pair_table(rows, [("2 workers", "strangler-w2@unpinned", "nginx-w2@unpinned", wc, "strangler", "NGINX"),
                           ("1 worker", "strangler@unpinned", "nginx@unpinned", wc, "strangler", "NGINX")])
    gain = []
    for two, one, label in (("nginx-w2@unpinned", "nginx@unpinned", "NGINX"), ("strangler-w2@unpinned", "strangler@unpinned", "strangler")):
        rr, cr = per_round(rows, two, one, "rps", wc, wc), per_round(rows, two, one, "cpu", wc, wc)
        if rr:
            gain.append(f"{label} 2 workers / 1 worker: req/s {spread(rr)}, CPU per request {spread(cr)}")
    if gain:
        w("Paired by round, " + "; ".join(gain) + ".\n")
    footer(w, fx)
    return o


def pingora(rows, fx):
    c = int(fx.get("conns", 50))
    o = header(fx, "A pingora peer", (
        "`bench/pingora.sh`. A minimal reverse proxy on Cloudflare's `pingora` crate (features `proxy`, no TLS), "
        "generated and built by the script in a temp directory (`nice -n 10 cargo build --release -j1`, fat LTO, one "
        "codegen unit, as strangler), cached in /tmp: `threads: 1`, `upstream_keepalive_pool_size: 128`, every "
        "request to the origin over pooled keep-alive connections, X-Forwarded-For set, no logging. Beside NGINX and "
        "strangler as in `bench/run.sh` (one worker, alone on the proxy core).\n"))
    w = o.append
    if "peer_fail" in fx:
        w(f"**pingora peer: did not build**: {fx['peer_fail']}\n")
        return o
    w(f"Peer: {fx.get('peer', '?')}; {fx.get('pingora_threads', '?')} threads in the process.\n")
    w(f"### {c} connections\n")
    o += target_table(rows, [("nginx", "NGINX"), ("strangler", "strangler"), ("pingora", "pingora peer")], c,
                      extras=(("upconns", "new origin conns per run", lambda s: num(s["extra"]("upconns"))),))
    o += pair_table(rows, [(f"@{c}", "pingora", "nginx", c, "pingora", "NGINX"),
                           (f"@{c}", "strangler", "nginx", c, "strangler", "NGINX"),
                           (f"@{c}", "strangler", "pingora", c, "strangler", "pingora")])
    w("### 1 connection (latency)\n")
    o += target_table(rows, [("nginx", "NGINX"), ("strangler", "strangler"), ("pingora", "pingora peer")], 1)
    o += pair_table(rows, [("@1", "pingora", "nginx", 1, "pingora", "NGINX"), ("@1", "strangler", "nginx", 1, "strangler", "NGINX"),
                           ("@1", "strangler", "pingora", 1, "strangler", "pingora")])
    footer(w, fx)
    return o


def main():
    name, rows, fx = sys.argv[1], load(sys.argv[2]), facts(sys.argv[3])
    fn = {"tls": tls, "mirror": mirror, "scale": scale, "pingora": pingora}.get(name)
    if not fn:
        sys.exit(f"unknown report {name}")
    print("\n".join(fn(rows, fx)))


if __name__ == "__main__":
    main()
