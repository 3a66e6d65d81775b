"""Checkers for chapter 03, positional encoding."""

from __future__ import annotations

__all__: list[str] = []
