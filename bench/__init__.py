"""Tell's benchmark suite: ``python -m bench`` runs every measurement and writes ``bench/RESULTS.md``.

Every figure is either a ratio measured side by side in the same run (the sidecar against a bare
aiohttp handler, 5,000 rules against 50) or a latency distribution over many runs: the machines this
runs on are shared, and an absolute number from one of them says little on its own.
"""
