"""Rating math: pure functions over numpy arrays, no I/O.

- counts.py     battles -> cells (distinct battles with counts), per group in one pass, and
                pair totals
- bt.py         Bradley-Terry maximum likelihood (batched Newton), Elo scale, graph checks
- bootstrap.py  multinomial resampling of cells (Poisson tables corrected to exactly N
                battles), rounds in seeded chunks over threads (the leaderboards of one log in
                one pool)
- elo.py        online Elo (one replay, or many replays at once)
- style.py      style control: BT with answer length and markdown as covariates
- tables.py     records (wins, losses, draws, win rate and its standard error), win-rate
                matrix, rank spread
- scores.py     single-mode mean scores with bootstrap intervals
- ratings.py    the entry points: bradley_terry, elo, style_controlled (fit + checks +
                bootstrap, on the Elo scale)
"""
