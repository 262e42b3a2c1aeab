.PHONY: help install test test-all lint bench
help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'
install:  ## editable install with CPU torch (never a CUDA build by accident)
	pip install torch==2.13.0 ./packaging/xgboost-cpu -e ".[dev]"
test:  ## fast CPU tests (not slow/gpu/network)
	pytest
test-all:  ## every test, slow ones included (gpu/network still need their hardware)
	pytest -m "not gpu and not network"
lint:  ## ruff
	ruff check hwgpt tests bench *.py
bench:  ## speed benchmarks (print ratios measured side by side)
	for b in bench/bench_*.py; do python $$b; done
