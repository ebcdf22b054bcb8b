import sys

from analyses.core import cli
from analyses.relu_removal import run

sys.exit(cli.main(run.analysis))
