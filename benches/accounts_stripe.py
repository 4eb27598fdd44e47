#!/usr/bin/env python3
"""A Stripe stand-in for the backfill benchmark: ACCOUNTS connected accounts (acct_bench0000...),
each with CUSTOMERS customers, PRODUCTS products and PRICES prices, generated on the fly and
listed 100 per page by `starting_after` (ids in ascending order), all active; no subscriptions,
no events.
Every call takes DELAY seconds, as a real Stripe round trip would. `POST /v1/customers` creates a
customer (the interactive upserts of the benchmark); `GET /v1/products/{id}` retrieves one (a
webhook worker's refetch). `--first-customers` gives the first account (acct_bench0000) another
number of customers than the others. `GET /stats` gives the calls served, per account too, and
the most in any one second (none of them counted).

    python3 benches/accounts_stripe.py --port 12113 --accounts 100 --customers 1000
"""

import argparse
import json
import sys
import threading
import time
from collections import Counter
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import slow_stripe  # beside this file

lock = threading.Lock()
calls = 0
per_second = Counter()
per_account = Counter()
created = 0
CONFIG = {"accounts": 100, "customers": 1000, "products": 50, "prices": 100, "delay": 0.05,
          "first_customers": None}


def customer(account, n):
    return {
        "id": f"cus_{account[-4:]}{n:06d}", "object": "customer", "created": 1700000000,
        "livemode": False, "email": f"user{n}@example.com", "name": f"User {n}", "phone": None,
        "description": None, "address": None, "balance": 0, "delinquent": False,
        "metadata": {}, "preferred_locales": [],
    }


def product(account, n):
    return {
        "id": f"prod_{account[-4:]}{n:04d}", "object": "product", "active": True,
        "name": f"Product {n}", "description": None, "metadata": {}, "livemode": False,
    }


def price(account, n):
    return {
        "id": f"price_{account[-4:]}{n:04d}", "object": "price", "active": True,
        "currency": "eur", "product": f"prod_{account[-4:]}{n % max(CONFIG['products'], 1):04d}",
        "unit_amount": 100 + n, "recurring": None, "lookup_key": None, "nickname": None,
        "metadata": {}, "type": "one_time", "livemode": False,
    }


KINDS = {"customers": customer, "products": product, "prices": price}


def count_of(kind, account):
    """How many objects of `kind` the account has."""
    if not account.startswith("acct_bench"):
        return 0
    if kind == "customers" and account == "acct_bench0000" and CONFIG["first_customers"] is not None:
        return CONFIG["first_customers"]
    return CONFIG[kind]


class Handler(slow_stripe.Handler):
    """The slow stand-in's HTTP plumbing (answers, no Nagle delay), with these routes."""

    def count(self):
        global calls
        with lock:
            calls += 1
            per_second[int(time.time())] += 1
            per_account[self.headers.get("Stripe-Account") or "platform"] += 1
        time.sleep(CONFIG["delay"])

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/stats":
            busiest = max(per_second.values()) if per_second else 0
            return self.answer(200, {"calls": calls, "busiest_second": busiest, "created": created,
                                     "by_account": per_account})
        self.count()
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        account = self.headers.get("Stripe-Account") or "platform"
        parts = url.path.strip("/").split("/")
        if len(parts) == 2 and parts[1] in KINDS:
            total = count_of(parts[1], account)
            if query.get("active") == "false":
                total = 0  # every object made here is active
            make = KINDS[parts[1]]
            start = 0
            if "starting_after" in query:
                start = int(query["starting_after"][-6 if parts[1] == "customers" else -4:]) + 1
            limit = int(query.get("limit", 10))
            data = [make(account, n) for n in range(start, min(start + limit, total))]
            return self.answer(200, {"object": "list", "url": url.path, "data": data,
                                     "has_more": start + limit < total})
        if len(parts) == 3 and parts[1] == "products" and parts[2].startswith(f"prod_{account[-4:]}"):
            n = int(parts[2][-4:])
            if n < count_of("products", account):
                return self.answer(200, product(account, n))
        if len(parts) == 2 and parts[1] in ("subscriptions", "events"):
            return self.answer(200, {"object": "list", "url": url.path, "data": [], "has_more": False})
        if len(parts) == 3 and parts[1] == "accounts":
            return self.answer(200, {"id": parts[2], "object": "account", "charges_enabled": True,
                                     "payouts_enabled": True, "details_submitted": True,
                                     "country": "US", "default_currency": "usd", "metadata": {}})
        self.answer(404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                    "message": f"No such object: {url.path}"}})

    def do_POST(self):
        global created
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.count()
        if urlparse(self.path).path == "/v1/customers":
            with lock:
                created += 1
                n = 10_000_000 + created
            body = customer(self.headers.get("Stripe-Account") or "platform", n)
            body["email"] = form.get("email")
            body["metadata"] = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
            return self.answer(200, body)
        self.answer(404, {"error": {"type": "invalid_request_error", "message": "unknown"}})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=12113)
    for name in ("accounts", "customers", "products", "prices"):
        parser.add_argument(f"--{name}", type=int, default=CONFIG[name])
    parser.add_argument("--delay", type=float, default=CONFIG["delay"])
    parser.add_argument("--first-customers", type=int, default=None)
    args = parser.parse_args()
    for name in CONFIG:
        CONFIG[name] = getattr(args, name)
    server = Server(("127.0.0.1", args.port), Handler)
    server.serve_forever()


class Server(ThreadingHTTPServer):
    """A client that went away (a gateway instance killed on purpose) is not an error here."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


if __name__ == "__main__":
    main()
