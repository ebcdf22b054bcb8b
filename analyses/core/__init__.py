"""The protocol and plumbing every analysis uses: options and their specs (``spec``), the
command line (``cli``), the result and how it is saved (``result``, ``saving``), which mazes an
analysis runs on (``inputs``) and where rollout records live (``records``), shared figure
helpers (``figures``), the list of analyses (``registry``) and the report that runs them all
(``report``). Nothing here knows any particular analysis."""
