#!/usr/bin/env python3
"""Valid and hostile webhook deliveries together, over many connections: does every valid one
get its 2xx and land in the inbox while the hostile ones are refused?

Each hostile delivery is correctly signed but names what no Stripe object could be (a NUL in the
event id, the account or the object id, as `\\u0000` in the JSON). Before the inbox refused them
at the edge, one of them in a group commit failed every delivery of its batch.

    python3 benches/hostile_mix.py --url http://127.0.0.1:8080/webhooks/stripe \
        --secret whsec_local --valid 600 --hostile 30 --connections 32 \
        --database-url postgres://postgres@127.0.0.1:5432/gateway

Standard library only. With --database-url (PostgreSQL, through psql) it also counts the
valid events stored and checks that no hostile one is. Exits non-zero when any valid delivery
was not acknowledged or not stored, or any hostile one was not refused with a 4xx.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


def event(event_id, account, object_id):
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-09-30.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "customer.updated",
        "account": account,
        "data": {"object": {"id": object_id, "object": "customer", "name": "Ana"}},
    }


def deliveries(valid, hostile, run):
    items = []
    for n in range(valid):
        items.append((True, event(f"evt_mix{run}v{n}", "acct_1HostileMix0001", f"cus_{n}")))
    spots = ["id", "account", "object"]
    for n in range(hostile):
        spot = spots[n % 3]
        event_id = f"evt_mix{run}h{n}" + ("\u0000" if spot == "id" else "")
        account = "acct_1HostileMix0001" + ("\u0000" if spot == "account" else "")
        object_id = f"cus_{n}" + ("\u0000" if spot == "object" else "")
        items.append((False, event(event_id, account, object_id)))
    random.Random(run).shuffle(items)
    return items


def sign(secret, body):
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/webhooks/stripe")
    parser.add_argument("--secret", default="whsec_local")
    parser.add_argument("--valid", type=int, default=600)
    parser.add_argument("--hostile", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url", help="PostgreSQL URL of the gateway's database")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    queue = deliveries(args.valid, args.hostile, run)
    lock = threading.Lock()
    answers = []
    target = urllib.parse.urlsplit(args.url)

    def worker():
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        while True:
            with lock:
                if not queue:
                    break
                valid, body_json = queue.pop()
            body = json.dumps(body_json, indent=2).encode()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(args.secret, body),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            }
            conn.request("POST", target.path, body, headers)
            response = conn.getresponse()
            response.read()
            with lock:
                answers.append((valid, body_json["id"], response.status))

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    valid_ok = sum(1 for v, _, s in answers if v and 200 <= s < 300)
    valid_other = sorted({s for v, _, s in answers if v and not 200 <= s < 300})
    hostile_4xx = sum(1 for v, _, s in answers if not v and 400 <= s < 500)
    hostile_other = sorted({s for v, _, s in answers if not v and not 400 <= s < 500})
    print(f"run {run}: {len(answers)} deliveries over {args.connections} connections in {elapsed:.2f} s")
    print(f"valid:   {valid_ok} of {args.valid} answered 2xx (other statuses: {valid_other or 'none'})")
    print(f"hostile: {hostile_4xx} of {args.hostile} answered 4xx (other statuses: {hostile_other or 'none'})")
    failed = valid_ok != args.valid or hostile_4xx != args.hostile

    if args.database_url:
        def count(where):
            sql = f"SELECT count(*) FROM webhook_events WHERE {where}"
            out = subprocess.run(["psql", args.database_url, "-tAc", sql], check=True,
                                 capture_output=True, text=True)
            return int(out.stdout.strip())
        stored_valid = count(f"id LIKE 'evt_mix{run}v%'")
        stored_hostile = count(f"id LIKE 'evt_mix{run}h%'")
        print(f"stored:  {stored_valid} of {args.valid} valid, {stored_hostile} hostile")
        failed |= stored_valid != args.valid or stored_hostile != 0

    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
