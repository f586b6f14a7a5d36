"""Keeps the docs build working when the inventories of other projects cannot be fetched.

mkdocstrings links external types (``torch.Tensor``, ``numpy.ndarray``,
``torch_geometric.data.Data``, ...) through the Sphinx inventories listed under
``inventories`` in ``mkdocs.yml``, which it downloads at build time. When a
download fails it logs an error, and ``mkdocs build --strict`` aborts: so a build
without network (a laptop offline, or a CI machine that reaches only package
registries) would fail. This hook tries each inventory first and leaves out the
ones that cannot be fetched, with an INFO line; the site is then built with
those types unlinked.

Set ``DOCS_REQUIRE_INVENTORIES=1`` (the publishing workflow does) to keep every
inventory, so that a failed download fails the strict build instead of
publishing a site without the links.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority

log = logging.getLogger("mkdocs.hooks.inventories")

REQUIRE_ENV = "DOCS_REQUIRE_INVENTORIES"
TIMEOUT_S = 10


def _url(item: Any) -> str:
    return item if isinstance(item, str) else item["url"]


def _reachable(url: str) -> str | None:
    """``None`` if ``url`` can be fetched, else the reason it cannot."""
    request = urllib.request.Request(url, headers={"User-Agent": "mkdocs-inventory-check"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            response.read(1)
    except Exception as error:  # any failure means: leave it out
        return str(getattr(error, "reason", error))
    return None


@event_priority(100)  # before mkdocstrings starts its downloads in its own on_config
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        return config
    plugin = config.plugins.get("mkdocstrings")
    if plugin is None:
        return config
    for name, handler in plugin.config.handlers.items():
        inventories = handler.get("inventories") or []
        kept = []
        for item in inventories:
            reason = _reachable(_url(item))
            if reason is None:
                kept.append(item)
            else:
                log.info(
                    "inventory %s not reachable (%s): its types are not linked in this build",
                    _url(item),
                    reason,
                )
        if inventories:
            handler["inventories"] = kept
            log.debug("%s handler: %d of %d inventories kept", name, len(kept), len(inventories))
    return config
