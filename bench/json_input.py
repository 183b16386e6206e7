"""Benchmark: reading JSON bodies with limits (plumbing.jsoninput.loads) against json.loads.

    DJANGO_DEBUG=true .venv/bin/python bench/json_input.py [--megabytes 8] [--repeat 5]

For bodies of about --megabytes each, of several shapes — prose in one string, a bulk deploy
upload, a list of empty lists (all brackets), strings full of brackets and escapes, and `[`
repeated (refused) — prints the best of --repeat runs of json.loads and of loads, and their ratio.
Goal: loads within 3× of json.loads on every shape it accepts, and a deep body refused in less
time than json.loads takes on a shallow one of the same size.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from plumbing.jsoninput import JSONInputError, loads  # noqa: E402


def shapes(size: int) -> dict[str, str]:
    deploy = {
        "service": "web",
        "environment": "production",
        "version": "25145",
        "deployer": "sandrews",
        "message": "Production deploy",
        "deployed_at": "2010-05-18T22:20:50Z",
        "commits": [{"sha": "a" * 40, "authored_at": "2010-05-18T20:00:00Z", "message": "Fix the cart"}] * 2,
    }
    one = json.dumps(deploy)
    return {
        "prose in one string": json.dumps({"message": "word " * (size // 5)}),
        "bulk deploys": json.dumps({"deploys": [deploy] * (size // len(one))}),
        "empty lists": "[" + "[]," * (size // 3) + "[]]",
        "brackets and escapes in strings": json.dumps(['[{\\"' * 8] * (size // 40)),
        "[ repeated (refused)": "[" * size,
    }


def best(parse, text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            parse(text)
        except (JSONInputError, RecursionError):
            pass
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    size = int(args.megabytes * 1024 * 1024)
    print(f"{'shape':34} {'MB':>5} {'json.loads':>11} {'loads':>9} {'ratio':>6}")
    for name, text in shapes(size).items():
        plain, limited = best(json.loads, text, args.repeat), best(loads, text, args.repeat)
        mb = len(text) / 1024 / 1024
        print(f"{name:34} {mb:5.1f} {plain * 1000:9.1f}ms {limited * 1000:7.1f}ms {limited / plain:6.2f}")


if __name__ == "__main__":
    main()
