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

And the whole path, end to end: RATE Stripe events a second (customer.updated, each renaming one
of CUSTOMERS customers at the fake Stripe, which delivers the signed event to the gateway), each
acknowledged, stored, re-fetched from the fake, written to the mirror with its customer.updated
gateway event, and delivered to the app's receiver. The latency runs from just before the fake is
asked to make the change (so it includes the fake's own work and the gateway's 2xx) to the app's
receipt. A rename that a re-fetch of an earlier event already saw is told once (the later event's
re-fetch changes nothing): those are counted as "seen by an earlier re-fetch", not as latencies.
"""

import argparse
import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
received = []  # (path, webhook-id, event timestamp (epoch s), receipt time (epoch s), data.name)
counts = {}  # path -> receipts: what the waits read, so they never scan `received` under the lock
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
            event = json.loads(body)
            created = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
            with lock:
                received.append((path, self.headers["webhook-id"], created, now,
                                 event["data"].get("name")))
                counts[path] = counts.get(path, 0) + 1
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
            got = sum(counts.get(path, 0) for path in paths)
        if got >= count:
            return time.time()
        time.sleep(0.01)
    raise SystemExit(f"only {got} of {count} deliveries arrived in {timeout} s")


def reset():
    with lock:
        received.clear()
        counts.clear()


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


def call(method, url, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def stripe_to_app(args, account, settle):
    """RATE customer.updated events a second from the fake Stripe for SECONDS; returns the
    latencies (s) from before each change to the app's receipt, and how many changes an earlier
    event's re-fetch had already told."""
    def create(n):
        customer = call("POST", f"{args.gateway}/v1/organizers/{args.organizer}/customers", args.token,
                        {"email": f"buyer{n}@bench.example", "name": "First name"})
        return customer["stripe_customer_id"]

    with ThreadPoolExecutor(8) as pool:
        customers = list(pool.map(create, range(args.customers)))
    settle()
    reset()
    total = args.rate * args.seconds
    asked = [0.0] * total
    answered = [0.0] * total
    start = time.time() + 0.5

    def change(i):
        pause = start + i / args.rate - time.time()
        if pause > 0:
            time.sleep(pause)
        asked[i] = time.time()
        answer = call("POST", f"{args.fake}/_fake/trigger", body={
            "type": "customer.updated", "account": account,
            "customer": customers[i % len(customers)], "name": f"e2e-{i}"})
        answered[i] = time.time()
        if answer["delivery_status"] != 200:
            raise SystemExit(f"the gateway answered {answer['delivery_status']} to a Stripe event")

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(change, range(total)))
    settle()
    with lock:
        got = {r[4]: (r[2], r[3]) for r in received if r[0] == "/e2e"}
    told = [(asked[i], *got[f"e2e-{i}"]) for i in range(total) if f"e2e-{i}" in got]
    # The whole path, and its two halves: to the event's commit (acknowledged, stored,
    # re-fetched, mirrored) and from it (sent).
    whole = sorted(receipt - ask for ask, _, receipt in told)
    stored = sorted(created - ask for ask, created, _ in told)
    sent = sorted(receipt - created for _, created, receipt in told)
    trigger = sorted(answered[i] - asked[i] for i in range(total))
    print(f"  the fake's change and delivery      p50 {quantile(trigger, 0.5) * 1000:6.0f} ms"
          f"  p99 {quantile(trigger, 0.99) * 1000:6.0f} ms")
    return whole, stored, sent, total - len(told)


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
    parser.add_argument("--fake", required=True, help="the fake Stripe delivering to the gateway")
    parser.add_argument("--account", required=True, help="the organizer's connected account")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--phases", default="senders,e2e",
                        help="senders (deliveries/s, commit -> receipt, drain), e2e, or both")
    args = parser.parse_args()

    ThreadingHTTPServer.request_queue_size = 4096  # the senders open many connections at once
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def endpoint(path):
        return call("POST", f"{args.gateway}/v1/webhook-endpoints", args.token,
                    {"url": f"http://127.0.0.1:{args.port}{path}", "organizer_id": args.organizer})["id"]

    def disable(ids):
        if ids:
            psql(args.database_url, "UPDATE webhook_endpoints SET enabled = false WHERE id IN ("
                 + ",".join(f"'{i}'" for i in ids) + ")")

    events = Events(args.database_url, args.organizer)
    one = endpoint("/one")
    twenty_paths = [f"/e{n}" for n in range(20)]
    twenty = [endpoint(p) for p in twenty_paths]
    fast, down = endpoint("/fast"), endpoint("/down")
    e2e = endpoint("/e2e")
    everything = [one, *twenty, fast, down, e2e]
    results = {}

    phases = args.phases.split(",")
    alone = beside = end_to_end = None
    if "senders" in phases:
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

    if "e2e" in phases:
        # The whole path, from Stripe's event to the app's receipt.
        psql(args.database_url, f"UPDATE webhook_endpoints SET enabled = (id = '{e2e}')")

        def settle():
            deadline = time.time() + 600
            while psql(args.database_url, f"""SELECT (SELECT count(*) FROM webhook_events
                WHERE status = 'pending') + (SELECT count(*) FROM webhook_deliveries
                WHERE state = 'pending' AND endpoint_id = '{e2e}')""") != "0":
                if time.time() > deadline:
                    raise SystemExit("the gateway did not settle its events in 600 s")
                time.sleep(0.2)

        end_to_end, to_commit, from_commit, told_once = stripe_to_app(args, args.account, settle)

    with open(f"/proc/{args.pid}/status") as status:
        rss = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    for name, value in results.items():
        print(f"{name:<48} {value:,.0f}")
    for name, values in (("alone", alone), ("beside a down endpoint", beside)):
        if values is None:
            continue
        print(f"commit -> receipt at {args.rate}/s, {name:<24} p50 {quantile(values, 0.5) * 1000:6.0f} ms"
              f"  p99 {quantile(values, 0.99) * 1000:6.0f} ms  max {values[-1] * 1000:6.0f} ms"
              f"  ({len(values)} deliveries)")
    if end_to_end is not None:
        print(f"Stripe event -> app receipt at {args.rate}/s, end to end   p50 {quantile(end_to_end, 0.5) * 1000:6.0f} ms"
              f"  p99 {quantile(end_to_end, 0.99) * 1000:6.0f} ms  max {end_to_end[-1] * 1000:6.0f} ms"
              f"  ({len(end_to_end)} deliveries; {told_once} seen by an earlier re-fetch)")
        for name, values in (("change -> event committed", to_commit),
                             ("event committed -> receipt", from_commit)):
            print(f"  of which {name:<30} p50 {quantile(values, 0.5) * 1000:6.0f} ms"
                  f"  p99 {quantile(values, 0.99) * 1000:6.0f} ms")
    print(f"gateway peak RSS {int(rss) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
