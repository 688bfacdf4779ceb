"""Russian error messages: calls. English template -> Russian, with the same {placeholders}."""

from __future__ import annotations

MESSAGES: dict[str, str] = {}

# Field names as `{field}` shows them.
FIELDS: dict[str, str] = {}
