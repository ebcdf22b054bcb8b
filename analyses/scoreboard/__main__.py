import sys

from analyses.core import cli
from analyses.scoreboard import run

sys.exit(cli.main(run.analysis))
