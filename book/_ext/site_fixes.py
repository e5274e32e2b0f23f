"""A local Sphinx extension that keeps every page of the book offline and free of console errors.

1. Sphinx 7.4 registers an inline script added by an extension after the builder starts (such as
sphinx-thebe's `const THEBE_JS_URL = ...` and sphinx-togglebutton's selector) twice: once as
given (no file name) and once more with an empty file name, so the page declares the same
`const` twice and the browser reports a SyntaxError. This extension drops such duplicates from
each page just before it is written.

2. Matplotlib's JavaScript animation player (`Animation.to_jshtml()`) starts with a stylesheet
link to Font Awesome 4.4 on a CDN, for the icons of its buttons. The site must work offline, and
the book's theme already ships Font Awesome (which draws those `fa fa-*` icons), so the link is
removed from the pages; the notebooks keep it.

tests/test_browser.py checks every page for console errors and for requests that leave the site.
"""

from __future__ import annotations

import re
from typing import Any

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


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect("html-page-context", drop_font_awesome_cdn, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
