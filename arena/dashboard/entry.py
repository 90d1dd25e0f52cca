"""The script `arena dashboard` hands to `streamlit run` (viz.py at the repository root is the
same page for a checkout; this one ships inside the package)."""

import sys

from arena.dashboard.app import main

main(sys.argv[1:])
