"""The analyses of the maze policy: each answers one question, with
``run(model, inputs, *, seed, progress, ...) -> Result`` declared by ``@analysis(...)``
(``run.analysis``), and each is a script, ``python -m analyses.<name> --help``.

The rooms (``docs/architecture.md``):

* ``analyses/<name>`` — one analysis (a module, or a package when it is large);
* ``analyses/core/`` — the protocol and the plumbing every analysis uses: the declaration
  (``spec``), the command line, results and saving, inputs, the registry
  (``core.registry.ANALYSES``, the one list) and the report;
* ``analyses/measure/`` — measurements that more than one analysis needs: functions of
  arrays or of a model and mazes, with no command line and no figures.

An analysis imports ``core``, ``measure``, the library and third-party packages, never
another analysis (``tests/test_layout.py``). Importing this package imports nothing, so
``python -m analyses.<name>`` loads only what that analysis needs.
"""
