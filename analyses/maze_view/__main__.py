import sys

from analyses.core import cli
from analyses.maze_view import run

sys.exit(cli.main(run.analysis))
