"""Puts the repository root on sys.path for pytest runs from a checkout."""
