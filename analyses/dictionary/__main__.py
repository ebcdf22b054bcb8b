"""``python -m analyses.dictionary``: the dictionary analysis's command line."""

import sys

from analyses.core import cli
from analyses.dictionary import run

sys.exit(cli.main(run.analysis))
