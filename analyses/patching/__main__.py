import sys

from analyses.core import cli
from analyses.patching import ANALYSIS

sys.exit(cli.main(ANALYSIS))
