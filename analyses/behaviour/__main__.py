import sys

from analyses.behaviour import ANALYSIS
from analyses.core import cli

sys.exit(cli.main(ANALYSIS))
