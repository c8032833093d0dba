"""``.. config-table::``: the configuration table, made from the code's own
list of keys (``config.DESCRIPTIONS``, ``config.shown_default``), so the docs
cannot miss a key or show a stale default."""

from __future__ import annotations

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from flask_auth_service_mongo import config


def table_lines() -> list[str]:
    """The table as reST ``list-table`` lines: key, default, meaning."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 30 25 45", ""]
    lines += ["   * - key", "     - default", "     - meaning"]
    for key, description in config.DESCRIPTIONS.items():
        lines += [f"   * - ``{key}``", f"     - {config.shown_default(key)}", f"     - {description}"]
    return lines


class ConfigTable(SphinxDirective):
    """Render every configuration key with its default and its description."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(table_lines(), source="config.DESCRIPTIONS"), self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict:
    app.add_directive("config-table", ConfigTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
