"""The Streamlit dashboard over a run folder (or a bare battle log).

`streamlit run viz.py -- --run data/runs/NAME` or `arena dashboard data/runs/NAME`. Layout:

- `files.py`: plain readers, file in, DataFrame out; a missing or malformed file is a DataError
  naming it (the page shows the message, never a traceback).
- `loaders.py`: the same readers behind Streamlit's cache, keyed by path and modification time,
  and the source (run folder or battle log) the page looks at.
- `slices.py`: leaderboards the ratings stage did not precompute (judge x category, style control
  of a category, ...), fitted on demand from the battles and cached.
- `safe.py`: model and judge text as sanitised markdown (no raw HTML, no remote images).
- one module per view: `leaderboard.py`, `heatmaps.py`, `battles.py`, `single.py`, `serving.py`,
  `compare.py`; `app.py` parses the arguments and lays out the page.

docs/DASHBOARD.md describes the views.
"""
