import sys

from analyses.core import cli
from analyses.resample import run

sys.exit(cli.main(run.analysis))
