#!/usr/bin/env python3
"""Sends signed `product.updated` events of ACCOUNTS connected accounts (acct_bench0001 ...)
to a gateway, RATE events per second per account for SECONDS seconds, evenly spaced (each event
about one of the account's PRODUCTS products, in turn), over THREADS keep-alive connections.
Prints "sent acknowledged late": events sent, answered 200, and sent more than 100 ms after
their due time (the sender fell behind). With --backlog N, N events of acct_bench0000 (each about
another of its products, prod_00000000 on) are delivered first, as fast as they are taken, and
a fourth figure follows: how many of those were acknowledged.

    python3 benches/fair_share.py --url http://127.0.0.1:18091/webhooks/stripe \
        --secret whsec_... --accounts 50 --rate 5 --seconds 30 --products 20
"""

import argparse
import http.client
import json
import threading
import time
import urllib.parse
import uuid

from drain import signed  # beside this file


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=0)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    backlog_acked = deliver_backlog(url, args) if args.backlog else None
    total_rate = args.accounts * args.rate
    count = int(total_rate * args.seconds)
    start = time.time() + 0.5
    # Event i is due at start + i / total_rate and belongs to account i % accounts: each account
    # gets `rate` events a second, evenly spaced, interleaved with the others.
    results = [[0, 0, 0] for _ in range(args.threads)]

    def send(index):
        conn = http.client.HTTPConnection(url.hostname, url.port)
        for i in range(index, count, args.threads):
            due = start + i / total_rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.1:
                results[index][2] += 1
            account = f"acct_bench{1 + i % args.accounts:04d}"
            product = f"prod_{account[-4:]}{(i // args.accounts) % args.products:04d}"
            results[index][0] += 1
            results[index][1] += post(conn, url, args.secret, account, product) == 200

    threads = [threading.Thread(target=send, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    totals = [sum(r[k] for r in results) for k in range(3)]
    print(*totals, *([] if backlog_acked is None else [backlog_acked]))


def post(conn, url, secret, account, product):
    """Delivers one signed product.updated event; returns the answer's status."""
    event = {"id": f"evt_{uuid.uuid4().hex}", "object": "event",
             "api_version": "2026-09-30.endive", "created": int(time.time()),
             "livemode": False, "type": "product.updated", "account": account,
             "data": {"object": {"id": product, "object": "product", "name": "stale"}}}
    body = json.dumps(event).encode()
    conn.request("POST", url.path, body, {"Content-Type": "application/json",
                                          "Stripe-Signature": signed(secret, body)})
    response = conn.getresponse()
    response.read()
    return response.status


def deliver_backlog(url, args):
    """The backlog of acct_bench0000: one event per product, over THREADS connections."""
    acked = [0] * args.threads

    def send(index):
        conn = http.client.HTTPConnection(url.hostname, url.port)
        for n in range(index, args.backlog, args.threads):
            acked[index] += post(conn, url, args.secret, "acct_bench0000", f"prod_0000{n:04d}") == 200

    threads = [threading.Thread(target=send, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(acked)


if __name__ == "__main__":
    main()
