"""Mean ± standard deviation of beam-5 dev accuracy over runs, as the paper reports results.

Usage: python benchmarks/seeds_summary.py DECODE_1.json DECODE_2.json ...
(each file is what `mapo decode RUN DATA --beam 5 --json` printed.)
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def summary(reports: list[dict]) -> str:
    accuracies = [100 * r["accuracy"] for r in reports]
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    lines = [f"{r['checkpoint']}: {100 * r['accuracy']:.2f} % ({r['correct']} / {r['total']})"
             for r in reports]
    lines.append(f"mean ± sd over {len(reports)} runs: "
                 f"{statistics.mean(accuracies):.2f} ± {spread:.2f} %")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(summary([json.loads(Path(p).read_text()) for p in sys.argv[1:]]))
