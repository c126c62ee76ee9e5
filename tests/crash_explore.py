"""Kill `mapo explore` with SIGKILL at random moments, resume, and check nothing was lost.

Usage: python tests/crash_explore.py DATA.jsonl WORKDIR [--kills N] [--seed S]

After every kill the store must open cleanly and still hold every program it
held before; the final store must equal that of one uninterrupted run.
Exit code 0 when all checks pass. `tests/test_explore_cli.py` runs it.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ARGS = ["--samples-per-example", "1500", "--chunk", "100", "--workers", "2", "--seed", "7"]


def explore(data: Path, store: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "mapo_cli.main", "explore", str(data), "--store", str(store),
               "--json", *ARGS]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def contents(store: Path) -> dict:
    from mapo_cli.store.store import Store

    with Store.open_readonly(store) as opened:
        out = {}
        for example_id in opened.ids():
            status = opened.read_status(example_id) or {}
            out[example_id] = (opened.read_memory(example_id), opened.read_filter(example_id),
                               {k: v for k, v in status.items() if k != "seconds"})
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    reference, crashed = args.workdir / "reference", args.workdir / "crashed"
    if explore(args.data, reference).wait() != 0:
        print("the uninterrupted run failed", file=sys.stderr)
        return 1
    before: dict = {}
    for kill in range(args.kills):
        process = explore(args.data, crashed)
        time.sleep(rng.uniform(0.8, 3.0))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        now = contents(crashed)  # opening it checks every page
        for example_id, (memory, _, _) in before.items():
            if now[example_id][0][: len(memory)] != memory:
                print(f"kill {kill}: programs of {example_id} were lost", file=sys.stderr)
                return 1
        before = {k: v for k, v in now.items()}
        done = sum(1 for _, _, s in now.values() if s.get("samples", 0) >= 1500 or s.get("exhausted"))
        print(f"kill {kill + 1}: store opens, {done}/{len(now)} examples done, nothing lost")
    final = explore(args.data, crashed)
    _, err = final.communicate()
    if final.returncode != 0:
        print(f"resuming failed: {err.decode()[-500:]}", file=sys.stderr)
        return 1
    if contents(crashed) != contents(reference):
        print("the resumed store differs from the uninterrupted one", file=sys.stderr)
        return 1
    print("resumed store equals the uninterrupted run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
