# A webhook receiver that verifies every delivery: python3 webhook_receiver.py whsec_…  (pip install standardwebhooks)
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook

hook = Webhook(sys.argv[1])


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        event = hook.verify(body, dict(self.headers))  # raises WebhookVerificationError on a bad signature
        print(self.headers["webhook-id"], event["type"], event["data"], flush=True)
        self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 8765), Receiver).serve_forever()
