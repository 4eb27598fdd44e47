#!/usr/bin/env python3
"""A tiny receiver of the gateway's webhooks, for trying them on one machine (the README's walk-
through starts it). It checks each delivery's Standard Webhooks signature against the endpoint's
secret, answers 204, and prints one line per event: its type, object, sequence and data.

    python3 examples/webhook_receiver.py --port 8090 --secret whsec_...

The gateway must be allowed to reach it over plain http: OUTBOUND_WEBHOOK_ALLOWED_HOSTS=127.0.0.1.
Standard library only. In an app, use a Standard Webhooks library (or the TypeScript client's
`verifyWebhook`) and handle each event id once: a retry or replay repeats it.
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECS = 300


def verified(secrets, headers, body):
    """The delivery's event if one of `secrets` signed it, else None."""
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature", "").split()
    if not msg_id or not stamp or not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE_SECS:
        return None
    signed = f"{msg_id}.{stamp}.".encode() + body
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(f"v1,{expected}", given) for given in signatures):
            return json.loads(body)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--secret", action="append", required=True,
                        help="the endpoint's whsec_ secret (repeat during a rotation)")
    args = parser.parse_args()

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            event = verified(args.secret, self.headers, body)
            self.send_response(204 if event else 401)
            self.end_headers()
            if event:
                print(event["type"], event["object_id"], f"sequence={event['sequence']}",
                      json.dumps(event["data"], separators=(",", ":")), flush=True)
            else:
                print("refused a delivery with a bad signature", file=sys.stderr, flush=True)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    print(f"receiving on http://127.0.0.1:{args.port}/", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
