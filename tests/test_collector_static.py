"""The collector script without a browser: it parses, and it stays within its size budget."""
from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

COLLECTOR = Path(__file__).resolve().parent.parent / "edge" / "static" / "collector.js"

# Contract with the pages that embed the collector (docs/collector.md): at most 12 KB gzipped.
GZIP_BUDGET_BYTES = 12_288


def test_collector_parses_with_node():
    node = shutil.which("node")
    assert node, "node is needed to syntax-check edge/static/collector.js (apt-get install nodejs)"
    result = subprocess.run([node, "--check", str(COLLECTOR)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_collector_is_within_its_gzip_budget(record_property):
    raw = COLLECTOR.read_bytes()
    size = len(gzip.compress(raw, compresslevel=9))
    record_property("collector_gzip_bytes", size)
    print(f"collector.js: {len(raw)} bytes, {size} bytes gzipped (budget {GZIP_BUDGET_BYTES})")
    assert size <= GZIP_BUDGET_BYTES, f"collector.js is {size} bytes gzipped, over the {GZIP_BUDGET_BYTES} budget"


def test_collector_is_plain_script_without_imports():
    # Served as-is with no build step: module syntax or a bundler leftover would break the embed.
    text = COLLECTOR.read_text()
    assert not re.search(r"^\s*(import|export)\b", text, re.M)
    for needle in ("require(", "import(", "sourceMappingURL"):
        assert needle not in text, needle
