"""`mapo serve` under load: requests per second and latency, 8 requests at a time.

Usage: python benchmarks/serve_load.py [RUN...] [--requests 200] [--concurrency 8]
           [--server-concurrency 4] [--port 8765]

Starts `mapo serve RUN...` (none: the bundled model) as its own process, waits
until /api/health answers, sends each of --requests questions about a 50-row
table (the one of benchmarks/ask_latency.py) as JSON CSV text, --concurrency at
once, and prints requests per second, p50/p99 latency and how many failed.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ask_latency import QUESTIONS, write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--server-concurrency", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "cities.csv"
        write_table(table)
        csv_text = table.read_text(encoding="utf-8")
    mapo = str(Path(sys.executable).with_name("mapo"))
    server = subprocess.Popen([mapo, "serve", *args.runs, "--port", str(args.port),
                               "--concurrency", str(args.server_concurrency),
                               "--workers", str(args.workers)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{args.port}"
    try:
        _wait_until_up(url, server)
        with httpx.Client(timeout=120) as client:
            client.post(url + "/api/ask", json={"question": QUESTIONS[0], "csv": csv_text})

            def one(k: int) -> tuple[float, int]:
                start = time.perf_counter()
                response = client.post(url + "/api/ask", json={
                    "question": QUESTIONS[k % len(QUESTIONS)], "csv": csv_text})
                return time.perf_counter() - start, response.status_code

            start = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(one, range(args.requests)))
            wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(30)
    latencies = sorted(seconds for seconds, _ in results)
    failed = sum(status != 200 for _, status in results)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"{args.requests} requests, {args.concurrency} at a time, server concurrency "
          f"{args.server_concurrency}, {args.workers} worker(s): {args.requests / wall:.1f} requests/s, "
          f"p50 {1000 * statistics.median(latencies):.0f} ms, p99 {1000 * p99:.0f} ms, "
          f"{failed} failed, {wall:.1f} s in all")


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    while True:
        if server.poll() is not None:
            raise SystemExit(f"mapo serve ended: {io.TextIOWrapper(server.stderr).read()}")
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
