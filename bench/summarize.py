#!/usr/bin/env python3
"""Turn the raw measurements of bench/run.sh into the Markdown report.

    summarize.py RESULTS.tsv FACTS.env > latest.md

RESULTS.tsv: one wrk run a line:
    target conns round requests duration_s rps p50_us p99_us non2xx sockerr cpu_us_per_req user_us sys_us \
        [origin_cpu_us_per_req proxy_core_not_idle_pct]
FACTS.env: key=value lines (environment, shadow, reload and RSS facts).
"""
import statistics
import sys

TARGETS = [
    ("origin", "origin (direct, the limit)"),
    ("nginx", "NGINX proxy"),
    ("nginx-same", "NGINX, same fields"),
    ("nginx-b", "NGINX, a second instance (the noise floor)"),
    ("haproxy", "HAProxy"),
    ("strangler", "strangler"),
    ("strangler-shadow", "strangler, shadowed route"),
    ("strangler-sampled", "strangler, shadowed route, sample 0.1"),
]


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) not in (13, 15):
                continue
            rows.append(dict(target=p[0], conns=int(p[1]), round=int(p[2]), requests=int(p[3]),
                             dur=float(p[4]), rps=float(p[5]), p50=int(p[6]), p99=int(p[7]),
                             non2xx=int(p[8]), sockerr=int(p[9]), cpu=float(p[10]),
                             cpu_u=float(p[11]), cpu_s=float(p[12]),
                             origin=float(p[13]) if len(p) == 15 else None,
                             busy=float(p[14]) if len(p) == 15 else None))
    return rows


def facts(path):
    d = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    return d


def med(xs):
    return statistics.median(xs) if xs else None


def us(v):
    if v is None:
        return "–"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def num(v, fmt="{:,.0f}"):
    return "–" if v is None else fmt.format(v)


def per_round(rows, conns, a, b, field):
    """`a`'s value over `b`'s for each round that measured both."""
    by = {}
    for r in rows:
        if r["conns"] == conns and r["requests"] > 0 and r["target"] in (a, b):
            by.setdefault(r["round"], {})[r["target"]] = r[field]
    return [v[a] / v[b] for _, v in sorted(by.items()) if v.get(a) and v.get(b)]


def spread(xs):
    return "–" if not xs else f"{med(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def ratio(a, b):
    return "–" if not a or not b else f"{a / b:.2f}"


def pct(v):
    return "–" if v is None else f"{v:.0f}%"


def origin_cell(s):
    hi, lo = s.get("origin"), s.get("origin_1")
    if hi is None and lo is None:
        return "–"
    def one(v):
        return "–" if v is None else f"{v:.1f} µs"
    return f"{one(hi)}, {one(lo)}"


def main():
    rows, fx = load(sys.argv[1]), facts(sys.argv[2])
    conns = int(fx.get("conns", 50))
    stats = {}
    for key, _ in TARGETS:
        hi = [r for r in rows if r["target"] == key and r["conns"] == conns and r["requests"] > 0]
        lo = [r for r in rows if r["target"] == key and r["conns"] == 1 and r["requests"] > 0]
        allr = [r for r in rows if r["target"] == key]
        if not hi and not lo:
            continue
        rps = [r["rps"] for r in hi]
        stats[key] = dict(
            n=len(hi),
            rps=med(rps), rps_min=min(rps) if rps else None, rps_max=max(rps) if rps else None,
            p50=med([r["p50"] for r in hi]), p99=med([r["p99"] for r in hi]),
            p50_1=med([r["p50"] for r in lo]), p99_1=med([r["p99"] for r in lo]),
            rps_1=med([r["rps"] for r in lo]), cpu_1=med([r["cpu"] for r in lo]),
            cpu=med([r["cpu"] for r in hi]),
            cpu_u=med([r["cpu_u"] for r in hi]), cpu_s=med([r["cpu_s"] for r in hi]),
            origin=med([r["origin"] for r in hi if r["origin"] is not None]),
            busy=med([r["busy"] for r in hi if r["busy"] is not None]),
            origin_1=med([r["origin"] for r in lo if r["origin"] is not None]),
            errors=sum(r["non2xx"] + r["sockerr"] for r in allr),
            requests=sum(r["requests"] for r in allr),
        )

    out = []
    w = out.append
    w("# strangler benchmark: latest run\n")
    w(f"Run {fx.get('date', '?')} on commit `{fx.get('commit', '?')}` — {fx.get('cpu', '?')}, "
      f"{fx.get('ncpu', '?')} CPUs, load average at start {fx.get('loadavg', '?')}.  ")
    w(f"{fx.get('rounds')} interleaved rounds (even rounds in the reverse order); {fx.get('duration')} s per run at {conns} connections, "
      f"{fx.get('lat_duration')} s per run at 1 connection, each after a {fx.get('run_warmup', '0')} s warm-up at its level "
      f"and `sync`; wrk -t1 ({fx.get('wrk', '?')}).  ")
    w(f"Pinning: {fx.get('pinning', '?')}.  ")
    w(f"Versions: {fx.get('nginx', '?')}, {fx.get('haproxy', '?')}, strangler {fx.get('strangler', '?')}. "
      "Origin: NGINX returning a 1 KiB JSON body, keep-alive. All proxies: one worker, keep-alive to the origin, "
      "access logs off.\n")

    w(f"## Throughput and latency\n")
    w(f"| target | req/s @{conns} (median) | min–max | p50 @{conns} | p99 @{conns} | req/s @1 | p50 @1 | p99 @1 | "
      f"proxy CPU per request | CPU per request @1 | origin CPU per request @{conns}, @1 | proxy core not idle @{conns} | "
      "failed requests |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, label in TARGETS:
        s = stats.get(key)
        if not s:
            continue
        cpu_label = f"{us(s['cpu'])} ({s['cpu_u']:.1f} user + {s['cpu_s']:.1f} sys)" + (" (origin)" if key == "origin" else "")
        w(f"| {label} | {num(s['rps'])} | {num(s['rps_min'])}–{num(s['rps_max'])} | {us(s['p50'])} | "
          f"{us(s['p99'])} | {num(s['rps_1'])} | {us(s['p50_1'])} | {us(s['p99_1'])} | {cpu_label} | "
          f"{us(s['cpu_1'])} | {origin_cell(s)} | {pct(s['busy']) if key != 'origin' else '–'} | "
          f"{s['errors']} of {s['requests']:,} |")
    w("")
    noisy = [label for key, label in TARGETS if key in stats and stats[key]["rps"]
             and (stats[key]["rps_max"] - stats[key]["rps_min"]) / stats[key]["rps"] > 0.3]
    if noisy:
        w(f"**Noisy machine**: the req/s spread exceeds 30% of the median for {', '.join(noisy)} "
          f"(load average at start {fx.get('loadavg', '?')}; other jobs share these 2 cores). Compare CPU per "
          "request, which moves much less, rather than req/s; rerun on a quiet machine for throughput.\n")
    w("CPU per request = (utime + stime of the proxy's processes, from /proc/PID/stat, over the run) / requests "
      "wrk completed; for the origin row it is the origin NGINX's own cost. Latencies are medians over rounds "
      "of wrk's per-run percentiles. Failed = non-2xx responses + socket errors.\n")
    w("**NGINX, same fields**: the NGINX proxy's config with its `location /` doing the header work strangler "
      "does by default: X-Request-Id (the client's when 1-128 visible ASCII, else NGINX's `$request_id`), sent "
      "upstream and returned on the answer; X-Forwarded-For set to the peer, X-Forwarded-Proto, X-Forwarded-Host; "
      "the client's Forwarded and X-Real-IP dropped (bench/lib.sh, `nginx_same_conf`). The NGINX proxy row sets "
      "X-Forwarded-For only: strangler's requests carry three more fields to the origin and one more back.\n")
    w("**The load side**: wrk and the origin share one core, the proxy has the other. Origin CPU per request = "
      "the origin NGINX's utime + stime over the run / requests; proxy core not idle = the share of the proxy's "
      "core not idle over the run (/proc/stat: the proxy's own CPU and what the kernel did there besides; the "
      "scenario reports' \"proxy core busy\" is the proxy's own share alone). A proxy core below ~100% means the load side was the limit of "
      "that run, and what the proxy costs the origin and wrk per request, not its own CPU, decided its req/s.\n")

    st = stats.get("strangler")
    if st:
        w("## Ratios (strangler / other)\n")
        w("| vs | req/s @%d | p50 @%d | p99 @%d | p50 @1 | p99 @1 | CPU per request |" % (conns, conns, conns))
        w("|---|---:|---:|---:|---:|---:|---:|")
        for key, label in (("nginx", "NGINX"), ("nginx-same", "NGINX, same fields"), ("haproxy", "HAProxy"),
                           ("origin", "origin (direct)")):
            o = stats.get(key)
            if not o:
                continue
            w(f"| strangler / {label} | {ratio(st['rps'], o['rps'])} | {ratio(st['p50'], o['p50'])} | "
              f"{ratio(st['p99'], o['p99'])} | {ratio(st['p50_1'], o['p50_1'])} | {ratio(st['p99_1'], o['p99_1'])} | "
              f"{ratio(st['cpu'], o['cpu']) if key != 'origin' else '–'} |")
        w("")
        w("req/s above 1 is better for strangler; latency and CPU above 1 are worse.\n")
        paired = []
        for c in (conns, 1):
            for a, key, label in (("strangler", "nginx", "strangler / NGINX"),
                                  ("strangler", "nginx-same", "strangler / NGINX, same fields"),
                                  ("strangler", "haproxy", "strangler / HAProxy"),
                                  ("nginx-b", "nginx", "NGINX (second instance) / NGINX: the noise floor")):
                rr = per_round(rows, c, a, key, "rps")
                cr = per_round(rows, c, a, key, "cpu")
                if rr:
                    paired.append(f"| {label} @{c} | {spread(rr)} | {spread(cr)} | "
                                  f"{sum(1 for x in rr if x >= 1)} of {len(rr)} | {sum(1 for x in cr if x <= 1)} of {len(cr)} |")
        if paired:
            w("Paired by round (each round runs the targets back to back, so a ratio taken within a round is "
              "not moved by the machine getting busier or quieter between rounds): the median of the per-round "
              "ratios, their range, and in how many rounds strangler was ahead. The last rows measure NGINX "
              "against a second NGINX with the same config, run next to it on the other side from strangler: "
              "two identical proxies, so any distance from 1 there is the machine's noise, not a difference.\n")
            w("| pair | req/s ratio, median (min–max) | CPU per request ratio, median (min–max) | "
              "rounds with more req/s | rounds with less CPU |")
            w("|---|---:|---:|---:|---:|")
            for line in paired:
                w(line)
            w("")

    sh = stats.get("strangler-shadow")
    if st and sh:
        w("## Shadow cost\n")
        cost = (1 - sh["rps"] / st["rps"]) * 100 if st["rps"] else 0
        copies = int(fx.get("shadow_copies", "0") or 0)
        sent = sh["requests"]
        w(f"strangler with a shadowed route (`sample: 1.0`, copy to a second NGINX server with the same body): "
          f"**{num(sh['rps'])} req/s** vs {num(st['rps'])} without → throughput cost **{cost:.1f}%**; "
          f"CPU per request {us(sh['cpu'])} vs {us(st['cpu'])}; p99 @{conns} {us(sh['p99'])} vs {us(st['p99'])}.  ")
        costs = [(1 - x) * 100 for x in per_round(rows, conns, "strangler-shadow", "strangler", "rps")]
        if costs:
            w(f"Paired by round (the shadowed run against the plain one of the same round): cost "
              f"{med(costs):.1f}% (median; {min(costs):.1f}–{max(costs):.1f}% over {len(costs)} rounds).  ")
        w(f"Shadow copies received by the shadow server: {copies:,} for {sent:,} shadowed requests "
          f"({copies / sent * 100 if sent else 0:.1f}%; copies of requests still in flight when wrk stopped count too).")
        if copies == 0:
            w("**Shadowing is not active in this build** (no copy reached the shadow server): the numbers above "
              "measure a route with a `shadow:` block that the proxy does not act on yet.")
        sm = stats.get("strangler-sampled")
        if sm:
            cost10 = (1 - sm["rps"] / st["rps"]) * 100 if st["rps"] else 0
            w("")
            w(f"The same route with `sample: 0.1` (one request in ten copied): **{num(sm['rps'])} req/s** → "
              f"throughput cost **{cost10:.1f}%**; CPU per request {us(sm['cpu'])}.")
        w("")

    w("## Requests lost during reloads\n")
    w(f"{fx.get('reload_summary', 'not measured')}\n")

    w(f"## Memory with {fx.get('idle_conns', '?')} idle keep-alive connections\n")
    w("| server | connections held | VmRSS before | VmRSS with them | per connection |")
    w("|---|---:|---:|---:|---:|")
    for key, label in (("strangler_norequest", "strangler, connections that sent no request (measured first)"),
                       ("strangler", "strangler"), ("nginx", "NGINX (master + worker)"), ("haproxy", "HAProxy")):
        if f"rss_{key}_before" not in fx:
            continue
        b, a = int(fx[f"rss_{key}_before"]), int(fx[f"rss_{key}_after"])
        held = int(fx.get(f"rss_{key}_held", 0) or 0)
        per = f"{(a - b) * 1024 / held / 1024:.1f} KiB" if held else "–"
        w(f"| {label} | {held:,} | {b / 1024:.1f} MiB | {a / 1024:.1f} MiB | {per} |")
    w("")
    w(f"Each connection (except in the first row) made one keep-alive `GET /` (answered 200) and then stayed idle; RSS sampled "
      f"~1 s after the last answer. {fx.get('rss_note', '')} The allocator keeps memory freed by the first "
      "strangler test, so the second strangler row's 'before' is higher and its per-connection figure is a lower bound; "
      "its absolute RSS is the comparable number.\n")

    w(f"Total wall time: {fx.get('elapsed', '?')} s.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
