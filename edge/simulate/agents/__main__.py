"""``python -m edge.simulate.agents NAME``: run one agent on the job read from stdin (JSON).

The result is the last stdout line, prefixed with ``RESULT_MARK`` (tools may print on stdout too).
The runner starts this in a session of its own and kills the whole group on a timeout.
"""
from __future__ import annotations

import json
import sys

from edge.simulate.agents import module
from edge.simulate.agents.base import RESULT_MARK, Job, Outcome, error_text


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m edge.simulate.agents NAME < job.json", file=sys.stderr)
        return 2
    try:
        job = Job.from_json(json.loads(sys.stdin.read()))
        outcome = module(argv[0]).run(job)
    except Exception as exc:  # noqa: BLE001 — the runner turns this into the row's error
        outcome = Outcome(error=error_text(exc))
    sys.stdout.write("\n" + RESULT_MARK + json.dumps(outcome.to_json()) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
