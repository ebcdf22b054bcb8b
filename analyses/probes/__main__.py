import sys

from analyses.core import cli
from analyses.probes import run

sys.exit(cli.main(run.analysis))
