"""``tell simulate``: real agent tools against a live deployment, and the detection matrix they earn.

* :mod:`edge.simulate.target` — the site's flows, fields and decision element (TOML, the demo by default);
* :mod:`edge.simulate.agents` — one module per agent, each standing for a real tool;
* :mod:`edge.simulate.runner` — runs the agents, cross-checks with the admin API, records telemetry;
* :mod:`edge.simulate.matrix` — the matrix as JSON, Markdown and text, and ``--compare``.

See docs/simulate.md.
"""
