"""Other tools' published files in and out: FastChat (MT-Bench), arena-hard-auto, AlpacaEval.

One module per tool reads its files into an `ImportedRun` (arena.imports.common), which is written
as an ordinary run folder; `fastchat` also writes runs back in FastChat's formats, and `votes`
reads pairwise verdicts from any of these sources (and MT-Bench's human judgments) for
`arena agreement`. Formats and what is kept: docs/IMPORTS.md.
"""
