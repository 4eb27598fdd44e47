#!/usr/bin/env python3
"""A Stripe stand-in for the backlog benchmark: every call takes DELAY seconds, as a real
Stripe round trip would. `GET /v1/products/{id}` answers a product named after its id; every
other path answers 404 `resource_missing`. `GET /stats` gives the calls served (not counted).

    python3 benches/slow_stripe.py --port 12112 --delay 0.05
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

calls = 0
calls_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm and the client's
    # delayed ACK add ~40 ms to every call.
    disable_nagle_algorithm = True
    delay = 0.05

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        global calls
        if self.path == "/stats":
            return self.answer(200, {"calls": calls})
        with calls_lock:
            calls += 1
        time.sleep(self.delay)
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["v1", "products"]:
            return self.answer(200, {
                "id": parts[2], "object": "product", "active": True, "name": f"Product {parts[2]}",
                "description": None, "metadata": {}, "livemode": False,
            })
        self.answer(404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                    "message": f"No such object: {self.path}"}})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()
    Handler.delay = args.delay
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
