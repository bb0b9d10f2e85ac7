.PHONY: check test

# Every check CI cares about, in one command.
check:
	ruff format --check .
	ruff check .
	mypy
	python -m pytest

test:
	python -m pytest
