#!/usr/bin/env python3
"""Local HTTP server for the download tests (python3 standard library only).

    http_server.py --root DIR [--fixtures DIR] [--log FILE] [--max-seconds S]

Binds 127.0.0.1 on a free port and prints "PORT <n>" on stdout. Exits when
its stdin reaches end of file (the test that started it died or closed the
pipe), on SIGTERM, or after --max-seconds (default 300), so it never
outlives a test run.

Paths:
  /files/NAME                 serves ROOT/NAME, honouring a single "Range:
                              bytes=A-B" / "bytes=A-" / "bytes=-N" (206 with
                              Content-Range; 416 with "bytes */SIZE" when A is
                              past the end)
  /norange/NAME               the same file, ignoring Range (always 200)
  /drop/N/NAME                like /files/, but the first request for this
                              path sends N body bytes and closes the
                              connection (Content-Length announces the rest)
  /stall/N/NAME               like /drop/, but the first request stalls after
                              N bytes (sleeps without closing)
  /status/CODE                answers CODE with a short text body
  /fail/CODE/N/REST           the first N requests of this exact path (query
  /fail/CODE/N/after/S/REST   included) answer CODE with a short text body
  /fail/CODE/N/after-date/S/REST  (with "Retry-After: S" seconds, or an HTTP
                              date S seconds from now, S may be negative);
                              later ones are answered as /REST would be
  /w/api.php?action=wbgetentities&ids=Q1|Q2&format=json
                              answers like Wikidata from FIXTURES/<id>.json
                              (one entity object each); unknown ids come back
                              as {"id": ..., "missing": ""}; more than 50 ids
                              gives the API's "toomanyvalues" error object
  /w/error/api.php            always an API error object
  /w/ratelimited/N/api.php    the first N requests get the API's "ratelimited"
                              error object (HTTP 200), later ones are answered
                              as /w/api.php
Anything else: 404.

Every request is appended to the log as one line:
  METHOD PATH range=<Range header or -> ua=<User-Agent header or ->
"""
import argparse
import email.utils
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOG_LOCK = threading.Lock()
SEEN_LOCK = threading.Lock()
SEEN = set()  # paths whose first (dropped / stalled) request already happened
FAILED = {}  # /fail/ request path -> failures answered so far


def log(line):
    if not ARGS.log:
        return
    with LOG_LOCK:
        with open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def first_time(path):
    with SEEN_LOCK:
        if path in SEEN:
            return False
        SEEN.add(path)
        return True


def fail_now(path, n):
    """True for the first n requests of path."""
    with SEEN_LOCK:
        k = FAILED.get(path, 0)
        if k >= n:
            return False
        FAILED[path] = k + 1
        return True


def parse_range(header, size):
    """(start, end) inclusive, 'unsatisfiable', or None to send the whole file."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None  # absent, malformed or multi-range: ignore it as RFC 9110 allows
    a, b = m.group(1), m.group(2)
    if a == "":
        n = int(b)
        if n == 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1)
    start = int(a)
    end = size - 1 if b == "" else min(int(b), size - 1)
    if start >= size or start > end:
        return "unsatisfiable"
    return (start, end)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pe-test-http/1"

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def send_text(self, code, text, ctype="text/plain; charset=utf-8", extra=None):
        body = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        rng = self.headers.get("Range")
        ua = self.headers.get("User-Agent")
        log("%s %s range=%s ua=%s" % (self.command, self.path, rng if rng else "-", ua if ua else "-"))
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        m = re.fullmatch(r"/fail/(\d{3})/(\d+)(?:/(after|after-date)/(-?\d+))?(/.*)", url.path)
        if m:
            if fail_now(self.path, int(m.group(2))):
                extra = {}
                if m.group(3) == "after":
                    extra["Retry-After"] = m.group(4)
                elif m.group(3):
                    extra["Retry-After"] = email.utils.formatdate(time.time() + int(m.group(4)), usegmt=True)
                return self.send_text(int(m.group(1)), "failing on purpose\n", extra=extra)
            url = url._replace(path=m.group(5))
            parts = url.path.split("/")
        try:
            if url.path == "/w/api.php":
                return self.wbgetentities(urllib.parse.parse_qs(url.query))
            m = re.fullmatch(r"/w/ratelimited/(\d+)/api.php", url.path)
            if m:
                if fail_now(url.path, int(m.group(1))):
                    return self.send_text(200, json.dumps({"error": {"code": "ratelimited",
                                                                     "info": "You've exceeded your rate limit."}}),
                                          "application/json; charset=utf-8")
                return self.wbgetentities(urllib.parse.parse_qs(url.query))
            if url.path == "/w/error/api.php":
                return self.send_text(200, json.dumps({"error": {"code": "internal_api_error_Test",
                                                                 "info": "test server error"}}),
                                      "application/json; charset=utf-8")
            if len(parts) == 3 and parts[1] == "status" and parts[2].isdigit():
                return self.send_text(int(parts[2]), "status %s\n" % parts[2])
            if len(parts) == 3 and parts[1] in ("files", "norange"):
                return self.serve_file(parts[2], rng if parts[1] == "files" else None)
            if len(parts) == 4 and parts[1] in ("drop", "stall") and parts[2].isdigit():
                cut = int(parts[2]) if first_time(url.path) else None
                return self.serve_file(parts[3], rng, cut=cut, stall=parts[1] == "stall")
        except (BrokenPipeError, ConnectionResetError):
            return
        self.send_text(404, "not found: %s\n" % url.path)

    def serve_file(self, name, rng, cut=None, stall=False):
        if "/" in name or name.startswith("."):
            return self.send_text(404, "not found\n")
        path = os.path.join(ARGS.root, name)
        if not os.path.isfile(path):
            return self.send_text(404, "not found: %s\n" % name)
        size = os.path.getsize(path)
        r = parse_range(rng, size) if rng else None
        if r == "unsatisfiable":
            return self.send_text(416, "range not satisfiable\n", extra={"Content-Range": "bytes */%d" % size})
        start, end = (0, size - 1) if r is None else r
        self.send_response(200 if r is None else 206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1 if size else 0))
        if r is not None:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        if cut is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD" or size == 0:
            return
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start + 1
            if cut is not None:
                chunk = f.read(min(cut, left))
                self.wfile.write(chunk)
                self.wfile.flush()
                if stall:
                    time.sleep(ARGS.stall_seconds)
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            while left > 0:
                chunk = f.read(min(65536, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    def wbgetentities(self, q):
        if q.get("action", [""])[0] != "wbgetentities":
            return self.send_text(200, json.dumps({"error": {"code": "badvalue",
                                                             "info": "Unrecognized value for parameter \"action\""}}),
                                  "application/json; charset=utf-8")
        ids = [i for i in q.get("ids", [""])[0].split("|") if i]
        if len(ids) > 50:
            return self.send_text(200, json.dumps({"error": {
                "code": "toomanyvalues",
                "info": "Too many values supplied for parameter \"ids\". The limit is 50."}}),
                "application/json; charset=utf-8")
        log("wbgetentities n=%d ids=%s" % (len(ids), ",".join(ids)))
        ents = {}
        for i in ids:
            p = os.path.join(ARGS.fixtures or "", i + ".json")
            if ARGS.fixtures and re.fullmatch(r"[QPL]\d+", i) and os.path.isfile(p):
                with open(p, encoding="utf-8") as f:
                    ents[i] = json.load(f)
            else:
                ents[i] = {"id": i, "missing": ""}
        self.send_text(200, json.dumps({"entities": ents, "success": 1}, ensure_ascii=False),
                       "application/json; charset=utf-8")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (curl after a stall timeout) is expected here.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--fixtures")
    ap.add_argument("--log")
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--stall-seconds", type=float, default=30)
    ARGS = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Timer(ARGS.max_seconds, lambda: os._exit(0)).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
