"""Measure ``RemoteCache.has_many`` against a local moto server (not part of the test suite).

    python -m tests.remote.bench_has_many [N_KEYS] [N_PRESENT]

Fills a fresh bucket with N_PRESENT index entries, then asks about N_KEYS keys
(the present ones plus absent ones) by HEADs and by listing, and prints the
times. Dummy credentials only; the server listens on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def main(n_keys: int = 10_000, n_present: int = 5_000) -> None:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
                      AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    from moto.server import ThreadedMotoServer

    from omniflow.remote import RemoteCache

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        from omniflow.remote._s3 import make_client

        remote = RemoteCache("s3://bench/team", endpoint)  # only for its key layout

        client = make_client(endpoint, pool=64)
        client.create_bucket(Bucket="bench")
        keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n_keys)]
        present = keys[:n_present]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda k: client.put_object(Bucket="bench", Key=remote.index_key(k), Body=b"{}"), present))
        print(f"filled {n_present} index entries in {time.perf_counter() - t0:.1f} s")
        for label, limit in (("listing", 0), ("HEADs", 10**9)):
            r = RemoteCache("s3://bench/team", endpoint, head_limit=limit)
            r.check()
            t0 = time.perf_counter()
            found = r.has_many(keys)
            dt = time.perf_counter() - t0
            assert found == set(present), (label, len(found))
            print(f"has_many({n_keys} keys, {n_present} present) by {label}: {dt:.2f} s")
    finally:
        server.stop()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
