"""Importers of published measurements (``python -m hwgpt.importers.hwgptbench``)."""
