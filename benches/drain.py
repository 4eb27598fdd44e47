#!/usr/bin/env python3
"""Sends EVENTS signed `product.updated` events about OBJECTS products of one connected
account to a gateway, round-robin over the objects, in shuffled order, over one keep-alive
connection per thread. Prints how many were acknowledged.

    python3 benches/drain.py --url http://127.0.0.1:18091/webhooks/stripe --secret whsec_... \
        --account acct_1DrainBench --events 10000 --objects 1000
"""

import argparse
import hashlib
import hmac
import http.client
import json
import random
import threading
import time
import urllib.parse


def signed(secret, body):
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    rng = random.Random(7)
    bodies = []
    for i in range(args.events):
        product = f"prod_drain{i % args.objects:05d}"
        event = {"id": f"evt_drain{i:07d}{rng.getrandbits(32):08x}", "object": "event",
                 "api_version": "2026-09-30.endive", "created": int(time.time()), "livemode": False,
                 "type": "product.updated", "account": args.account,
                 "data": {"object": {"id": product, "object": "product", "name": "stale"}}}
        bodies.append(json.dumps(event).encode())
    rng.shuffle(bodies)
    ok = [0] * args.threads

    def send(index):
        conn = http.client.HTTPConnection(url.hostname, url.port)
        for body in bodies[index::args.threads]:
            conn.request("POST", url.path, body, {"Content-Type": "application/json",
                                                  "Stripe-Signature": signed(args.secret, body)})
            response = conn.getresponse()
            response.read()
            ok[index] += response.status == 200

    threads = [threading.Thread(target=send, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(sum(ok))


if __name__ == "__main__":
    main()
