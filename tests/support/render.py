"""The template rendered for one stack: relay_devtools.cfnrender, shared with relay cost."""

from __future__ import annotations

from relay_devtools.files.cfnrender import NO_VALUE, Renderer, Stack, render

__all__ = ["NO_VALUE", "Renderer", "Stack", "render"]
