"""A local Sphinx extension: every page of the book offline, valid and free of console errors.

1. Sphinx 7.4 registers an inline script added by an extension after the builder starts (such as
sphinx-thebe's `const THEBE_JS_URL = ...` and sphinx-togglebutton's selector) twice: once as
given (no file name) and once more with an empty file name, so the page declares the same
`const` twice and the browser reports a SyntaxError. This extension drops such duplicates from
each page just before it is written.

2. Matplotlib's JavaScript animation player (`Animation.to_jshtml()`) starts with a stylesheet
link to Font Awesome 4.4 on a CDN, for the icons of its buttons. The site must work offline, and
the book's theme already ships Font Awesome (which draws those `fa fa-*` icons), so the link is
removed from the pages; the notebooks keep it.

3. Every page gets a `<meta name="description">`: the first sentence-long paragraph of the page
(a chapter's opening), or the book's `site_description` for pages without one (search, index).

4. pandas' HTML tables are made valid HTML: no `border="1"` attribute, no `<style scoped>` block
inside the page body (its three rules are in book/_static/site.css), and no empty header cell
(an empty corner `<th>` becomes a `<td>`, which axe-core and screen readers expect).

5. MyST-NB's hide-cell toggle carries `aria-label="Toggle hidden content"` on a `<summary>` whose
visible text is "Show code cell content"; the label hides that text from assistive technology
(axe-core: label-content-name-mismatch), so it is dropped and the visible text names the toggle.

6. Images in the page body load lazily (`loading="lazy"`): a reader's browser fetches a figure
when it comes near the screen, so opening a chapter does not download every figure of it (each
has its width and height, so nothing moves when it arrives).

7. The first line of a code cell whose output varies from machine to machine is a note for the
test suite, `# nbval-ignore-output (kind): why` (tests/test_reexecution.py requires it, and the
notebook keeps it). It says nothing to a reader, so the page shows the cell's code without it.

tests/test_browser.py checks every page for console errors, requests that leave the site, and
axe-core violations.
"""

from __future__ import annotations

import html
import re
from typing import Any

from docutils import nodes

# The <link> that matplotlib.animation's HTML template puts before the player.
FONT_AWESOME_CDN = re.compile(
    r'<link\s+rel="stylesheet"\s+href="https://maxcdn\.bootstrapcdn\.com/font-awesome/[^"]*"\s*/?>'
)


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep only the first of scripts that are equal up to an empty versus a missing file name."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (
            getattr(script, "filename", script) or "",
            getattr(script, "priority", None),
            tuple(sorted(attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def drop_font_awesome_cdn(app, pagename, templatename, context, doctree) -> None:
    """Remove the CDN stylesheet of matplotlib's animation player from the page body."""
    body = context.get("body")
    if body and "maxcdn.bootstrapcdn.com/font-awesome" in body:
        context["body"] = FONT_AWESOME_CDN.sub("", body)


DESCRIPTION_LENGTH = 160  # characters; what search engines show of a description
PANDAS_TABLE = re.compile(
    r'<table border="1" class="dataframe(?P<rest>[^>]*)>(?P<inner>.*?)</table>', re.S
)
PANDAS_STYLE = re.compile(r"<style scoped>\s*\.dataframe.*?</style>\s*", re.S)
HIDE_CELL_LABEL = '<summary aria-label="Toggle hidden content">'
EAGER_IMAGE = re.compile(r"<img (?![^>]*\bloading=)")


def _in_cell(node: nodes.Node) -> bool:
    """Whether a node is part of a notebook code cell (its source or outputs)."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.container) and "cell" in parent.get("classes", []):
            return True
        parent = parent.parent
    return False


def page_description(doctree: nodes.document | None, fallback: str) -> str:
    """The page's first prose paragraph, shortened at a word to DESCRIPTION_LENGTH characters."""
    if doctree is not None:
        for paragraph in doctree.findall(nodes.paragraph):
            text = " ".join(paragraph.astext().split())
            if len(text) >= 60 and not _in_cell(paragraph):
                if len(text) > DESCRIPTION_LENGTH:
                    text = text[: DESCRIPTION_LENGTH - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
                return text
    return fallback


def add_meta_description(app, pagename, templatename, context, doctree) -> None:
    """Add a <meta name="description"> unless the page sets one (MyST `html_meta`)."""
    metatags = context.get("metatags", "")
    if 'name="description"' in metatags:
        return
    fallback = app.config.site_description or context.get("docstitle", "")
    description = page_description(doctree, fallback)
    if description:
        tag = f'<meta name="description" content="{html.escape(description, quote=True)}" />'
        context["metatags"] = f"{metatags}\n    {tag}" if metatags else tag


def _fix_pandas_table(match: re.Match) -> str:
    inner = match.group("inner").replace("<th></th>", "<td></td>")
    return f'<table class="dataframe{match.group("rest")}>{inner}</table>'


def fix_body_markup(app, pagename, templatename, context, doctree) -> None:
    """Valid pandas tables, a hide-cell toggle named by its text, and lazily loaded images."""
    body = context.get("body")
    if not body:
        return
    if 'class="dataframe' in body:
        body = PANDAS_STYLE.sub("", body)
        body = PANDAS_TABLE.sub(_fix_pandas_table, body)
    body = body.replace(HIDE_CELL_LABEL, "<summary>")
    body = EAGER_IMAGE.sub('<img loading="lazy" ', body)
    context["body"] = body


# The test suite's note on the first line of a code cell (see tests/test_reexecution.py).
TEST_NOTE = re.compile(r"\A# nbval-ignore-output \([a-z0-9 ]+\): [^\n]*\n")


def drop_test_notes(app, doctree, docname) -> None:
    """Remove the test suite's first-line note from every code cell's source on the page."""
    for block in doctree.findall(nodes.literal_block):
        text = block.astext()
        shown = TEST_NOTE.sub("", text, count=1)
        if shown != text:
            block.rawsource = shown
            block.children = [nodes.Text(shown)]


def setup(app) -> dict[str, Any]:
    app.connect("doctree-resolved", drop_test_notes)
    app.add_config_value("site_description", "", "html", types=[str])
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", drop_font_awesome_cdn, priority=900)
    app.connect("html-page-context", add_meta_description, priority=900)
    app.connect("html-page-context", fix_body_markup, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
