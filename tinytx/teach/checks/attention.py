"""Checkers for chapter 04, attention."""

from __future__ import annotations

__all__: list[str] = []
