"""Experiment tooling behind tools/compare.py, tools/run_embedded.py and tools/ablate.py (thin CLIs over it).

- :mod:`.spec`: the two spec formats, a comparison protocol (methods x targets) and an ablation suite (rows x seeds),
  parsed and checked into :class:`~.spec.Protocol` / :class:`~.spec.Suite`;
- :mod:`.runner`: each run as a child process of its entry script, with run records (resume, re-run of a changed
  config), and collecting the finished runs' results.json;
- :mod:`.progress`: a child's log as one short progress line in the terminal;
- :mod:`.statistics`: mean ± std over seeds, the table's columns, verdicts of a row against its reference;
- :mod:`.report`: the Markdown tables and charts;
- :mod:`.checks`: configs and models built from a spec without running it (ablation config checks, parameter counts).

Light to import (no torch, no matplotlib): the tools' --help answers at once; what is heavy is imported where used.
"""
