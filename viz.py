"""Streamlit entry of the arena dashboard (the page lives in arena/dashboard/).

    streamlit run viz.py -- --run data/runs/NAME
    streamlit run viz.py -- --review-file battles.jsonl
    arena dashboard data/runs/NAME
"""

import sys

from arena.dashboard.app import main

main(sys.argv[1:])
