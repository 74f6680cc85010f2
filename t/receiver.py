#!/usr/bin/env python3
"""t/receiver.py — a webhook receiver for the tests: a real HTTP server on
loopback that records every request it gets as one JSON line in LOG:
  {"t": arrival (epoch seconds), "method", "path" (with the query), "headers"
   (names in lower case), "body" (text), "body_b64" (the exact bytes),
   "status" (the answer it gives)}
The line is written when the request arrives, before any delay.

usage: receiver.py PORT LOG

What it answers is chosen per path, by the query of the URL itself or by a
rule set through the control endpoint (a rule wins over the query):
  ?fail=N         the first N requests to this path (query included) get 500
  ?status=CODE    always answer CODE (default 200)
  ?delay=SECS     answer after SECS seconds
  ?redirect=URL   answer 307 with Location: URL (after the fails)
  POST /_control  body {"path": "/x", "fail": N, "status": C, "delay": S,
                  "redirect": URL, "s3": true}: a rule for every path
                  starting with "/x"; {"reset": true} drops every rule and
                  counter. "s3" answers as an S3 store does a multipart
                  upload (an UploadId, each part's ETag, the completion),
                  without checking signatures.
Control requests are not logged.
"""
import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
RULES = {}      # path prefix -> rule
COUNTS = {}     # full path -> requests seen
LOG = None


def rule_for(path):
    query = {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}
    rule = {}
    for key in ("fail", "status", "delay", "redirect"):
        if key in query:
            rule[key] = query[key]
    best = ""
    for prefix in RULES:
        if path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    if best:
        rule.update(RULES[best])
    return rule


def s3_answer(method, path, headers):
    """What an S3 store answers to the requests of a multipart upload."""
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    if method == "POST" and "uploads" in query:
        return (b"<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
                b"</InitiateMultipartUploadResult>")
    if method == "PUT":
        headers.append(("ETag", '"part-%s"' % query.get("partNumber", ["0"])[-1]))
    if method == "POST" and "uploadId" in query:
        return b"<CompleteMultipartUploadResult></CompleteMultipartUploadResult>"
    return b"ok\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, headers=(), body=b""):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self, body):
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return self.answer(400, body=b"bad json\n")
        with LOCK:
            if req.get("reset"):
                RULES.clear()
                COUNTS.clear()
            if "path" in req:
                RULES[req["path"]] = {k: req[k] for k in
                                      ("fail", "status", "delay", "redirect",
                                       "s3")
                                      if k in req}
        self.answer(200, [("Content-Type", "application/json")], b"{}\n")

    def handle_any(self):
        arrived = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if self.path == "/_control":
            return self.control(body)
        with LOCK:
            rule = rule_for(self.path)
            seen = COUNTS.get(self.path, 0)
            COUNTS[self.path] = seen + 1
        status, headers = int(rule.get("status", 200)), []
        answer = b"ok\n" if status < 300 else b"no\n"
        if rule.get("s3") and status < 300:
            answer = s3_answer(self.command, self.path, headers)
        if seen < int(rule.get("fail", 0)):
            status = 500
        elif rule.get("redirect"):
            status = 307
            headers.append(("Location", rule["redirect"]))
        record = {
            "t": arrived,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "body_b64": base64.b64encode(body).decode(),
            "status": status,
        }
        with LOCK:
            LOG.write(json.dumps(record) + "\n")
            LOG.flush()
        delay = float(rule.get("delay", 0))
        if delay > 0:
            time.sleep(delay)
        if status >= 300:
            answer = b"no\n"
        self.answer(status, headers, answer)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # A client that hangs up (a killed sender, a timeout) is part of
        # what the tests do; anything else is worth a line on stderr.
        err = sys.exc_info()[1]
        if not isinstance(err, (ConnectionError, TimeoutError)):
            print(f"receiver: {client_address}: {err!r}", file=sys.stderr)


def main():
    global LOG
    if len(sys.argv) != 3:
        sys.exit("usage: receiver.py PORT LOG")
    LOG = open(sys.argv[2], "a", encoding="utf-8")
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main()
