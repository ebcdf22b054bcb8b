import sys

from analyses.core import cli
from analyses.probes import ANALYSIS

sys.exit(cli.main(ANALYSIS))
