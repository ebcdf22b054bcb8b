import sys

from analyses.core import cli
from analyses.maze_view import ANALYSIS

sys.exit(cli.main(ANALYSIS))
