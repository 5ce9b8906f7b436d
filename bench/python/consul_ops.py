"""python3-consul (Debian's package) against consul-sim: the same operations as duncan-bench's
consul-client figures. Usage: consul_ops.py URL OPS CONCURRENCY. Prints KIND<TAB>MODE<TAB>OPS/S.

python3-consul 0.7 has no transaction API, so the txn goes through the client's own HTTP layer
(its requests session), with the body Consul's API documents.
"""

import base64
import json
import sys
import threading
import time
from urllib.parse import urlparse

import consul
from consul.base import CB

VALUE = "x" * 64


def make_client(url):
    parsed = urlparse(url)
    return consul.Consul(host=parsed.hostname, port=parsed.port, scheme=parsed.scheme)


def one(client, kind, caller):
    if kind == "kv get":
        _, pair = client.kv.get("bench/kv/read")
        if pair is None:
            raise RuntimeError("the benchmark key is missing")
    elif kind == "kv put":
        client.kv.put("bench/kv/w%d" % caller, VALUE)
    else:
        ops = [
            {"KV": {"Verb": "set", "Key": "bench/txn/%d" % caller,
                    "Value": base64.b64encode(VALUE.encode()).decode()}},
            {"KV": {"Verb": "get", "Key": "bench/kv/read"}},
        ]
        client.http.put(CB.json(), "/v1/txn", data=json.dumps(ops))


def run(url, kind, ops, callers):
    per_caller = -(-ops // callers)
    clients = [make_client(url) for _ in range(callers)]
    errors = []

    def work(caller):
        try:
            for _ in range(per_caller):
                one(clients[caller], kind, caller)
        except Exception as error:  # reported below; a failed run has no figure
            errors.append(error)

    threads = [threading.Thread(target=work, args=(c,)) for c in range(callers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return per_caller * callers / elapsed


def main():
    url, ops, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    make_client(url).kv.put("bench/kv/read", VALUE)
    for kind in ("kv get", "kv put", "txn"):
        for mode, callers in (("sequential", 1), ("concurrent", concurrency)):
            print("%s\t%s\t%.1f" % (kind, mode, run(url, kind, ops, callers)), flush=True)


if __name__ == "__main__":
    main()
