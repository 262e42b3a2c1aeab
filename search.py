"""Multi-objective architecture search on the benchmark: ``python search.py optimizer=ehvi n_evals=200``.

A thin wrapper: the command is :func:`hwgpt.cli.search` (installed as ``hwgpt-search``); see conf/search.yaml.
"""

from hwgpt.cli import search

if __name__ == "__main__":
    search()
