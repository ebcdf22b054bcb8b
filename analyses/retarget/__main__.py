import sys

from analyses.core import cli
from analyses.retarget import run

sys.exit(cli.main(run.analysis))
