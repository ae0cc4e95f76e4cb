#!/bin/sh
# Hermes Agent's `hermes` command run from a source tree: its console script
# (pyproject.toml [project.scripts] hermes = "hermes_cli.main:main"), nothing stubbed.
# scripts/conformance.sh's act variant gives it to `medic act --hermes`.
#
#   HERMES_SRC=/path/to/hermes-agent scripts/hermes_cli.sh kanban --board=default list
#
# $HERMES_SRC: the tree holding hermes_cli/ (required); $PYTHON: an interpreter with Hermes's
# Python dependencies (default /usr/bin/python3). Hermes reads its root from $HERMES_HOME.
src=${HERMES_SRC:?set HERMES_SRC to a Hermes Agent source tree}
py=${PYTHON:-/usr/bin/python3}
PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}" exec "$py" -c \
  'import sys; from hermes_cli.main import main; sys.argv[0] = "hermes"; sys.exit(main())' "$@"
