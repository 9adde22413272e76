#!/usr/bin/env python3
"""How long `login` takes for an unknown login and for a known one with a wrong password.

    python3 scripts/login-timing.py [GATEWAY_BINARY] [ROUNDS]

Starts the gateway (default: the release build under CARGO_TARGET_DIR, embedded mode, in a
temporary DATA_DIR, with the limits on failed attempts raised so that none is refused), signs
up one user, then sends ROUNDS (default 200) of each attempt, interleaved (unknown, wrong, ...)
so both kinds see the same machine, one connection, one at a time. Prints the medians and the
90th percentiles in milliseconds, and their difference; API.md wants the medians within 5 ms.
"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(conn, query, variables):
    body = json.dumps({"query": query, "variables": variables})
    conn.request("POST", "/graphql", body, {"Content-Type": "application/json"})
    return json.loads(conn.getresponse().read())


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/gql-mq-target"))
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "release", "gateway")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="login-timing-")
    env = dict(os.environ, LISTEN_ADDR=f"127.0.0.1:{port}", DATA_DIR=data_dir, RUST_LOG="warn",
               LOGIN_MAX_FAILURES_PER_ACCOUNT="1000000", LOGIN_MAX_FAILURES_PER_ADDRESS="1000000")
    for key in ("AMQP_URL", "REDIS_URL", "USERS_DATABASE_URL", "ORDERS_DATABASE_URL"):
        env.pop(key, None)
    gateway = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit("the gateway never became ready")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        user = {"nickName": "timing_user", "fullName": "Timing User", "password": "correct horse battery",
                "cpf": "52998224725", "email": "timing@example.com", "phoneNumber": "+55 11 91234-5678"}
        created = post(conn, "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }", {"i": user})
        assert "errors" not in created, created
        login = "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }"
        timings = {"unknown login": [], "wrong password": []}
        for n in range(rounds + 10):
            for kind, variables in (("unknown login", {"l": f"nobody_{n}", "p": "wrong password"}),
                                    ("wrong password", {"l": "timing_user", "p": f"wrong password {n}"})):
                started = time.perf_counter()
                answer = post(conn, login, variables)
                elapsed = (time.perf_counter() - started) * 1000
                error = answer["errors"][0]
                assert error["extensions"]["code"] == "UNAUTHENTICATED", answer
                assert error["message"] == "invalid login or password", answer
                if n >= 10:  # the first ten of each warm up
                    timings[kind].append(elapsed)
        medians = {}
        for kind, values in timings.items():
            values.sort()
            medians[kind] = statistics.median(values)
            p90 = values[int(len(values) * 0.9)]
            print(f"{kind:15} n={len(values)} median {medians[kind]:.2f} ms, p90 {p90:.2f} ms")
        difference = abs(medians["unknown login"] - medians["wrong password"])
        print(f"difference of the medians: {difference:.2f} ms ({'within' if difference < 5 else 'NOT within'} 5 ms)")
    finally:
        gateway.terminate()
        gateway.wait()


if __name__ == "__main__":
    main()
