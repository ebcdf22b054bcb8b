import sys

from analyses.core import cli
from analyses.patching import run

sys.exit(cli.main(run.analysis))
