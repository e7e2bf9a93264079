"""Checks on Plotly figures as JSON (a figure's `to_plotly_json()`, the app's chart spec, or the browser's
`el.layout`), shared by the unit, AppTest and browser tests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

AXIS = re.compile(r"^([xy])axis(\d*)$")


def axis_title(axis: Mapping[str, Any]) -> str:
    title = axis.get("title")
    text = title.get("text") if isinstance(title, Mapping) else title
    return str(text or "").strip()


def untitled_axes(layout: Mapping[str, Any]) -> list[str]:
    """The visible axes of a figure's layout with no title of their own and none through the axis they match
    (subplots sharing an axis title it once). A figure whose layout names no x or no y axis counts its default
    `xaxis` / `yaxis` as untitled."""
    axes = {key: value for key, value in layout.items() if AXIS.match(key)}
    for letter in "xy":
        if not any(key.startswith(letter) for key in axes):
            axes[f"{letter}axis"] = {}

    def titled(key: str, seen: frozenset = frozenset()) -> bool:
        axis = axes.get(key, {})
        if axis.get("visible") is False or axis_title(axis):
            return True
        target = axis.get("matches")
        if not target or key in seen:
            return False
        letter, number = target[0], target[1:]
        return titled(f"{letter}axis{number}", seen | {key})

    return sorted(key for key in axes if not titled(key))
