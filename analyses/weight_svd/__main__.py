import sys

from analyses.core import cli
from analyses.weight_svd import run

sys.exit(cli.main(run.analysis))
