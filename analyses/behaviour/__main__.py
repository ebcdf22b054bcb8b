import sys

from analyses.behaviour import run
from analyses.core import cli

sys.exit(cli.main(run.analysis))
