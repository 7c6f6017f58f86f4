.PHONY: compile debug test test-pure bench annotate

compile:
	pip install -e .

debug:
	FASTTUN_DEBUG=1 pip install -e .

test:
	python -m pytest

test-pure:
	FASTTUN_NO_EXTENSIONS=1 python -m pytest

bench:
	python -m pytest benchmarks --benchmark-only

annotate:
	python setup.py build_ext --inplace --cython-always --cython-annotate
