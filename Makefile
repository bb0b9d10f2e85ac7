.PHONY: check lint test

# Every check CI cares about, in one command (.ci/run runs the same ones).
check: lint test

# Formatting, lint and strict typing: what CI runs before the tests.
lint:
	python -m ruff format --check .
	python -m ruff check .
	python -m mypy --strict

test:
	python -m pytest
