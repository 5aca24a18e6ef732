"""A small web server that drives its own load: something to profile.

Standard library only, and written to run unchanged on Python 2.7 and 3.6+.
It serves a few endpoints on 127.0.0.1 (a free port) from a thread per
request, and a handful of client threads request them in a loop, so a
profiler attached to it sees real request handling within a second.

    python3 examples/webserver.py [--seconds N] [--clients N]
"""
import json
import os
import random
import re
import sys
import threading
import time

try:  # Python 3
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from socketserver import ThreadingMixIn
    from urllib.request import urlopen
except ImportError:  # Python 2.7
    from BaseHTTPServer import BaseHTTPRequestHandler, HTTPServer
    from SocketServer import ThreadingMixIn
    from urllib2 import urlopen


WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
         "nu xi omicron pi rho sigma tau upsilon phi chi psi omega").split()
EMAIL = re.compile(r"[a-z]+@[a-z]+\.(com|org|net)")


def is_prime(n):
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def primes_below(limit):
    return [n for n in range(limit) if is_prime(n)]


def make_document(size):
    rng = random.Random(size)
    return [{"id": i,
             "name": " ".join(rng.choice(WORDS) for _ in range(4)),
             "email": "%s@%s.com" % (rng.choice(WORDS), rng.choice(WORDS)),
             "score": rng.random()} for i in range(size)]


def render_report(size):
    document = make_document(size)
    text = json.dumps(document, sort_keys=True)
    matches = len(EMAIL.findall(text))
    return json.dumps({"records": len(document), "emails": matches, "bytes": len(text)})


def slow_query():
    # Stands for waiting on a database: wall-clock time, no CPU.
    time.sleep(0.02)
    return json.dumps({"rows": 0})


class Handler(BaseHTTPRequestHandler):
    routes = {
        "/primes": lambda: json.dumps(primes_below(3000)),
        "/report": lambda: render_report(200),
        "/query": slow_query,
    }

    def do_GET(self):
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body = route().encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the terminal quiet
        pass


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


def client(port, stop):
    paths = ["/primes", "/report", "/report", "/query"]
    rng = random.Random(port)
    while not stop.is_set():
        try:
            urlopen("http://127.0.0.1:%d%s" % (port, rng.choice(paths)), timeout=5).read()
        except Exception:
            time.sleep(0.05)


def main(argv):
    seconds = None
    clients = 4
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag == "--seconds":
            seconds = float(args.pop(0))
        elif flag == "--clients":
            clients = int(args.pop(0))
        else:
            sys.stderr.write("usage: webserver.py [--seconds N] [--clients N]\n")
            return 2
    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, name="server")
    serving.daemon = True
    serving.start()
    stop = threading.Event()
    for i in range(clients):
        t = threading.Thread(target=client, args=(port, stop), name="client-%d" % i)
        t.daemon = True
        t.start()
    sys.stdout.write("webserver: pid %d serving on http://127.0.0.1:%d with %d clients\n"
                     % (os.getpid(), port, clients))
    sys.stdout.flush()
    started = time.time()
    try:
        while seconds is None or time.time() - started < seconds:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    stop.set()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
