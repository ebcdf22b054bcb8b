"""The main job: every analysis on one checkpoint as a browsable report.

    python -m analyses.report --help

The work is :mod:`analyses.core.report`; this module is its command-line entry point.
"""

import sys

from analyses.core.report import main

if __name__ == "__main__":
    sys.exit(main())
