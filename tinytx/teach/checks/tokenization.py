"""Checkers for chapter 01, tokenization."""

from __future__ import annotations

__all__: list[str] = []
