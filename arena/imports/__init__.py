"""Readers (and writers) of other tools' files: results computed elsewhere show up in a run.

- Judgments (a whole run folder): `fastchat` (MT-Bench), `arena_hard`, `alpaca_eval` read a
  tool's questions, answers and judgments into an `ImportedRun` (arena.imports.common), written as
  an ordinary run folder; `fastchat` also writes runs back in FastChat's formats, and `votes`
  reads pairwise verdicts from any of these sources (and MT-Bench's human judgments) for
  `arena agreement`. Formats and what is kept: docs/IMPORTS.md.
- Scores (into a run's scores/summary.csv): `lm_eval`, `evalscope` (docs/SCORES.md).
"""
