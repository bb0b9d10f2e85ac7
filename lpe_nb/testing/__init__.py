"""Helpers for lpe-nb's own tests and benchmarks (and users' tests): a throwaway PostgreSQL server."""
