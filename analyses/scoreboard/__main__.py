import sys

from analyses.core import cli
from analyses.scoreboard import ANALYSIS

sys.exit(cli.main(ANALYSIS))
