#!/usr/bin/env python3
"""Opens N idle sockets to a gateway and reports when it closes them, with a bystander's
`{ __typename }` latency meanwhile (issue 14's measurement).

    scripts/idle-connections.py [--sockets 2000] [--watch 30] [http://127.0.0.1:8000]

Loopback only; bounded: it stops after --watch seconds whatever the gateway does.
"""
import argparse, http.client, selectors, socket, statistics, threading, time, urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
parser.add_argument("--sockets", type=int, default=2000)
parser.add_argument("--watch", type=float, default=30.0, help="seconds to wait for the closes")
args = parser.parse_args()
address = urllib.parse.urlsplit(args.url)
host, port = address.hostname, address.port or 80
assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"

def bystander(latencies, stop):
    """One keep-alive client, a request every 20 ms; a new connection if the old one closes."""
    connection = None
    body = b'{"query":"{ __typename }"}'
    while not stop.is_set():
        started = time.perf_counter()
        try:
            connection = connection or http.client.HTTPConnection(host, port, timeout=10)
            connection.request("POST", "/graphql", body, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            latencies.append((time.perf_counter() - started, response.status))
        except OSError as error:
            latencies.append((time.perf_counter() - started, repr(error)))
            connection = None
        time.sleep(0.02)

selector = selectors.DefaultSelector()
opened = time.monotonic()
sockets = []
for _ in range(args.sockets):
    s = socket.create_connection((host, port))
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ)
    sockets.append(s)
open_took = time.monotonic() - opened
latencies, stop = [], threading.Event()
thread = threading.Thread(target=bystander, args=(latencies, stop))
thread.start()

closed_after = []
deadline = opened + args.watch
while len(closed_after) < len(sockets) and time.monotonic() < deadline:
    for key, _ in selector.select(timeout=0.1):
        try:
            data = key.fileobj.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed_after.append(time.monotonic() - opened)
            selector.unregister(key.fileobj)
            key.fileobj.close()
stop.set()
thread.join()
for s in sockets:
    s.close()

print(f"{args.sockets} idle sockets opened in {open_took:.2f} s")
if closed_after:
    print(f"closed by the gateway: {len(closed_after)}, first after {min(closed_after):.2f} s, "
          f"median {statistics.median(closed_after):.2f} s, last {max(closed_after):.2f} s")
print(f"still open after {args.watch:.0f} s: {len(sockets) - len(closed_after)}")
ok = [seconds for seconds, status in latencies if status == 200]
failed = [status for _, status in latencies if status != 200]
if ok:
    print(f"bystander {{ __typename }}: {len(ok)} answered, median {statistics.median(ok) * 1000:.2f} ms, "
          f"p99 {sorted(ok)[int(len(ok) * 0.99) - 1] * 1000:.2f} ms, max {max(ok) * 1000:.2f} ms")
print(f"bystander failures: {len(failed)} {failed[:3]}")
