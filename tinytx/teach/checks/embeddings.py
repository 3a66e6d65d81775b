"""Checkers for chapter 02, embeddings."""

from __future__ import annotations

__all__: list[str] = []
