import sys

from analyses.core import cli
from analyses.retarget import ANALYSIS

sys.exit(cli.main(ANALYSIS))
