import sys

from analyses.core import cli
from analyses.resample import ANALYSIS

sys.exit(cli.main(ANALYSIS))
