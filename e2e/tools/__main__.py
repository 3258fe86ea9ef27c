"""``python -m e2e.tools NAME --url URL --username U``: run one tool once; print its result as JSON."""
from __future__ import annotations

import argparse
import json
import sys
import traceback

from e2e.tools import RESULT_MARK
from e2e.tools.run import resolve


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m e2e.tools")
    p.add_argument("name")
    p.add_argument("--url", required=True)
    p.add_argument("--username", required=True)
    args = p.parse_args()
    try:
        result = resolve(args.name)(args.url, args.username).to_json()
    except Exception as exc:  # reported to the parent, which fails the test with it
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
