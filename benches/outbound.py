#!/usr/bin/env python3
"""The gateway's webhook senders against local receivers (run by benches/outbound.sh).

Events are committed straight into the database, each with its deliveries, as a mirror write
commits them (one transaction: the event and a delivery per endpoint that hears it); the
gateway under test sends them. Because they are committed by another process, the senders find
them by polling (every 500 ms), as they find events another instance appended: the latencies
below are those of that path, an upper bound of the path within one instance (woken at once).

Measured: deliveries per second to one endpoint and to 20 (a backlog, due at once); the drain of
the backlog one endpoint gathers while down for DOWN_MINUTES at RATE events/s; the latency from
an event's commit to its receipt at RATE events/s, with every receiver up and again while another
endpoint answers 503 to everything; the gateway's peak RSS.
"""

import argparse
import json
import subprocess
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
received = []  # (path, webhook-id, event timestamp (epoch s), receipt time (epoch s))
down_paths = set()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        now = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = self.path
        if path in down_paths:
            status = 503
        else:
            status = 200
            stamp = json.loads(body)["timestamp"]
            created = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            with lock:
                received.append((path, self.headers["webhook-id"], created, now))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def psql(url, sql):
    out = subprocess.run(["psql", url, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Events:
    """Commits events of one organizer, with a delivery for each of the given endpoints."""

    def __init__(self, url, organizer):
        self.url, self.organizer, self.seq = url, organizer, 0

    def commit(self, count, endpoints):
        first, last = self.seq + 1, self.seq + count
        self.seq = last
        ids = ",".join(f"'{e}'" for e in endpoints)
        psql(self.url, f"""
            WITH ev AS (
              INSERT INTO gateway_events
                (organizer_id, seq, id, type, object_id, object_seq, created_at, data)
              SELECT '{self.organizer}', s, gen_random_uuid()::text, 'payment.succeeded',
                     'pi_bench' || s, 1, clock_timestamp() AT TIME ZONE 'UTC',
                     '{{"id":"pi_bench","status":"succeeded","amount":1500,"currency":"eur"}}'
              FROM generate_series({first}, {last}) s
              RETURNING organizer_id, seq, id, type, object_id, created_at)
            INSERT INTO webhook_deliveries
            SELECT gen_random_uuid()::text, e.id, ev.organizer_id, ev.seq, ev.id, ev.type,
                   ev.object_id, 'pending', 0, ev.created_at, ev.created_at, NULL
            FROM ev CROSS JOIN webhook_endpoints e WHERE e.id IN ({ids})""")


def wait_received(paths, count, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with lock:
            got = sum(1 for r in received if r[0] in paths)
        if got >= count:
            return time.time()
        time.sleep(0.01)
    raise SystemExit(f"only {got} of {count} deliveries arrived in {timeout} s")


def reset():
    with lock:
        received.clear()


def throughput(events, endpoints, paths, per_endpoint):
    reset()
    start = time.time()
    events.commit(per_endpoint, endpoints)
    end = wait_received(paths, per_endpoint * len(endpoints), 600)
    # From the commit of the backlog to the last receipt.
    return per_endpoint * len(endpoints) / (end - start)


def steady(events, endpoints, rate, seconds):
    """Commits `rate` events per second for `seconds`, in ten commits a second."""
    batch = max(1, rate // 10)
    start = time.time()
    for n in range(seconds * 10):
        events.commit(batch, endpoints)
        pause = start + (n + 1) / 10 - time.time()
        if pause > 0:
            time.sleep(pause)
    return seconds * 10 * batch


def latencies(path):
    with lock:
        return sorted(r[3] - r[2] for r in received if r[0] == path)


def quantile(values, q):
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--organizer", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--port", type=int, default=18190)
    parser.add_argument("--backlog", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--down-minutes", type=float, default=10)
    args = parser.parse_args()

    ThreadingHTTPServer.request_queue_size = 4096  # the senders open many connections at once
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def endpoint(path):
        body = json.dumps({"url": f"http://127.0.0.1:{args.port}{path}",
                           "organizer_id": args.organizer}).encode()
        request = urllib.request.Request(
            f"{args.gateway}/v1/webhook-endpoints", data=body, method="POST",
            headers={"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as answer:
            return json.load(answer)["id"]

    def disable(ids):
        if ids:
            psql(args.database_url, "UPDATE webhook_endpoints SET enabled = false WHERE id IN ("
                 + ",".join(f"'{i}'" for i in ids) + ")")

    events = Events(args.database_url, args.organizer)
    one = endpoint("/one")
    twenty_paths = [f"/e{n}" for n in range(20)]
    twenty = [endpoint(p) for p in twenty_paths]
    fast, down = endpoint("/fast"), endpoint("/down")
    everything = [one, *twenty, fast, down]
    results = {}

    disable([e for e in everything if e != one])
    results["deliveries/s, 1 endpoint"] = throughput(events, [one], {"/one"}, args.backlog)
    psql(args.database_url, f"UPDATE webhook_endpoints SET enabled = (id IN ({','.join(repr(e) for e in twenty)}))")
    results["deliveries/s, 20 endpoints"] = throughput(
        events, twenty, set(twenty_paths), args.backlog // 20)

    # Latency at a steady rate: one receiver alone, then beside an endpoint that is down.
    psql(args.database_url, f"UPDATE webhook_endpoints SET enabled = (id = '{fast}')")
    reset()
    sent = steady(events, [fast], args.rate, args.seconds)
    wait_received({"/fast"}, sent, 120)
    alone = latencies("/fast")
    psql(args.database_url, f"UPDATE webhook_endpoints SET enabled = (id IN ('{fast}', '{down}'))")
    down_paths.add("/down")
    reset()
    sent = steady(events, [fast, down], args.rate, args.seconds)
    wait_received({"/fast"}, sent, 120)
    beside = latencies("/fast")

    # The backlog of DOWN_MINUTES at RATE, committed while the endpoint is off, then sent from
    # when it is on again (its retries all due: the receiver is back).
    disable([fast, down])
    psql(args.database_url, f"DELETE FROM webhook_deliveries WHERE endpoint_id = '{down}'")
    down_paths.clear()
    backlog = int(args.rate * args.down_minutes * 60)
    reset()
    left = backlog
    while left > 0:
        events.commit(min(left, 10000), [down])
        left -= 10000
    start = time.time()
    psql(args.database_url, f"UPDATE webhook_endpoints SET enabled = true WHERE id = '{down}'")
    end = wait_received({"/down"}, backlog, 1800)
    results[f"drain of {backlog} deliveries (deliveries/s)"] = backlog / (end - start)

    with open(f"/proc/{args.pid}/status") as status:
        rss = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    for name, value in results.items():
        print(f"{name:<48} {value:,.0f}")
    for name, values in (("alone", alone), ("beside a down endpoint", beside)):
        print(f"commit -> receipt at {args.rate}/s, {name:<24} p50 {quantile(values, 0.5) * 1000:6.0f} ms"
              f"  p99 {quantile(values, 0.99) * 1000:6.0f} ms  max {values[-1] * 1000:6.0f} ms"
              f"  ({len(values)} deliveries)")
    print(f"gateway peak RSS {int(rss) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
