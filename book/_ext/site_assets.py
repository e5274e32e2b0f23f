"""A local Sphinx extension that keeps the built site small and self-contained.

It runs once the HTML is written (`build-finished`) and leaves the site with only what a reader's
browser loads, so that a cold load of any page stays under 2 MB and the whole site under 15 MB
(tests/test_browser.py measures both):

1. MathJax. The package sphinx-mathjax-offline holds a full MathJax 3 (24 MB, every input,
output and font variant). Only the components the pages use are copied into `_static/mathjax`:
the loader (`startup.js`), the core, TeX input (with the extensions it loads on demand), CHTML
output with its TeX fonts, and the assistive MathML that screen readers read. The context menu
(`ui/menu`, 0.4 MB of every page with math) is left out; `_config.yml` lists the components
(`mathjax3_config.loader.load`).

2. Font Awesome. The theme loads `fontawesome/js/all.min.js` (1.5 MB, which replaces every icon
with an inline SVG) besides the stylesheet (0.1 MB, rules for 2000 icons) and three web fonts
(0.3 MB) that draw the same icons, and preloads all three fonts. The script and the preloads are
dropped, and the stylesheet and fonts are cut down to the icons the site names: every `fa-*`
class in the pages and the theme's scripts, and every icon code point in the theme's
stylesheets. The fonts are subset with fontTools (a dependency of matplotlib) as WOFF files.

3. Source maps (`*.map`) of the theme's scripts and styles and their `sourceMappingURL`
comments, and the theme's translation catalogues (`_static/locales`, read at build time only).

4. Unused CSS. Of the theme's stylesheets (Bootstrap's alone is 0.2 MB) and sphinx-design's, the
rules survive whose class names occur somewhere in the site's pages or scripts (a word match
over every page and script, so classes that scripts add at run time are kept too, and
Bootstrap's `bs-*` classes, which its script builds from parts, always). Sphinx copies the
theme's files afresh on every build, so each build prunes the originals.

5. The sidebar's search field loses an `aria-label` that hid its visible text.

6. Files an earlier build left behind (a renamed chapter's page, source and figures, a former
theme version's scripts and fonts) are removed, so that an incremental build measures like a
fresh one: pages and sources of documents the book no longer has, figures no page shows, and
scripts, stylesheets and fonts in `_static` that nothing names any more.

7. The root `index.html`, which sphinx-external-toc writes as a bare redirect, is rewritten as a
small HTML page with a language, a title, a description and a link to the first page.

8. Figures. Every still PNG in `_images`, and every PNG output inside the notebooks offered for
download in `_sources`, is stored with a palette of 256 colours (Pillow's median cut, without
dithering) when that makes the file smaller: a matplotlib figure has few colours apart from
the ramps of its anti-aliasing and colour maps, and the file shrinks to about a third with no
visible change. Animated PNGs are left as they are.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

# The MathJax files the pages load, relative to the MathJax folder; globs allowed.
MATHJAX_FILES = [
    "startup.js",
    "core.js",
    "input/tex.js",
    "input/tex/extensions/*.js",  # loaded on demand by TeX's autoload (e.g. \boldsymbol)
    "output/chtml.js",
    "output/chtml/fonts/tex.js",
    "output/chtml/fonts/woff-v2/*.woff",
    "a11y/assistive-mml.js",
]
MATHJAX_SKIP = {"input/tex/extensions/all-packages.js"}  # every extension in one file

FONT_AWESOME_SCRIPT = re.compile(
    r'\s*<script src="[^"]*_static/vendor/fontawesome/[^"]*/js/all\.min\.js[^"]*"></script>'
)
FONT_PRELOAD = re.compile(
    r'\s*<link rel="preload" as="font" type="font/woff2" crossorigin '
    r'href="[^"]*_static/vendor/fontawesome/[^"]*"\s*/?>'
)
FA_CLASS = re.compile(r"\bfa-[a-z0-9-]+")
FA_ICON_SELECTOR = re.compile(r"^\.(fa-[a-z0-9-]+)::?(?:before|after)$")
FA_ICON_BODY = re.compile(r'^(?:content|--fa):"(\\[0-9a-f]+)"$')
CSS_CODEPOINT = re.compile(r'"\\([0-9a-fA-F]{4,5})"')
FA_FONT_URL = re.compile(
    r'url\(\.\./webfonts/(fa-[a-z0-9-]+)\.woff2\) format\("woff2"\)'
    r'(?:,url\(\.\./webfonts/[a-z0-9-]+\.ttf\) format\("truetype"\))?'
)
# The sidebar's search field reads "Search Ctrl+K" but is labelled "Search", which hides its
# visible text from assistive technology (axe-core: label-content-name-mismatch); without the
# label its text names it.
SEARCH_FIELD = '<button class="btn search-button-field search-button__button"'
SEARCH_FIELD_LABEL = SEARCH_FIELD + ' title="Search" aria-label="Search"'
SOURCE_MAP_COMMENT = re.compile(r"\n?(//# sourceMappingURL=\S+|/\*# sourceMappingURL=\S+ \*/)\s*$")


def mathjax_source() -> Path:
    """The full MathJax copy shipped by the package sphinx-mathjax-offline."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("the package sphinx-mathjax-offline (requirements.txt) is missing")
    return Path(spec.origin).parent / "static" / "mathjax"


def copy_mathjax(outdir: Path) -> None:
    """Replace _static/mathjax with the components in MATHJAX_FILES."""
    source = mathjax_source()
    target = outdir / "_static" / "mathjax"
    shutil.rmtree(target, ignore_errors=True)
    for pattern in MATHJAX_FILES:
        files = sorted(source.glob(pattern))
        if not files:
            raise RuntimeError(f"MathJax has no {pattern} in {source}")
        for path in files:
            relative = path.relative_to(source)
            if relative.as_posix() in MATHJAX_SKIP:
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)


def trim_theme_assets(outdir: Path) -> None:
    """Drop source maps, the Font Awesome script, TrueType fonts and translation catalogues."""
    static = outdir / "_static"
    for path in static.rglob("*.map"):
        path.unlink()
    for path in [*static.rglob("*.js"), *static.rglob("*.css")]:
        if "mathjax" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if "sourceMappingURL=" in text[-300:]:
            fixed = SOURCE_MAP_COMMENT.sub("", text)
            path.write_text(fixed, encoding="utf-8", errors="surrogateescape")
    for vendor in static.glob("vendor/fontawesome/*"):
        shutil.rmtree(vendor / "js", ignore_errors=True)
    shutil.rmtree(static / "locales", ignore_errors=True)


def css_statements(css: str) -> list[str]:
    """Split a stylesheet into its top-level statements (rules and @-blocks)."""
    statements, depth, start = [], 0, 0
    for i, char in enumerate(css):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                statements.append(css[start : i + 1])
                start = i + 1
    tail = css[start:].strip()
    return [*statements, tail] if tail else statements


def prune_icon_rules(css: str, used: set[str]) -> tuple[str, set[int]]:
    """Keep the icon rules of used classes; return the stylesheet and their code points."""
    kept, codepoints = [], set()
    for statement in css_statements(css):
        selectors, _, body = statement.partition("{")
        names = [FA_ICON_SELECTOR.match(s.strip()) for s in selectors.split(",")]
        icon = FA_ICON_BODY.match(body.rstrip("}").strip())
        if selectors.startswith("@") or not icon or not all(names):
            kept.append(statement)
            continue
        wanted = [m.group(0) for m in names if m and m.group(1) in used]
        if wanted:
            kept.append(",".join(wanted) + "{" + body)
            codepoints.add(int(icon.group(1).lstrip("\\"), 16))
    return "".join(kept), codepoints


# The stylesheets whose unused rules are dropped, relative to _static.
PRUNED_STYLESHEETS = [
    "styles/bootstrap.css",
    "styles/pydata-sphinx-theme.css",
    "styles/sphinx-book-theme.css",
    "sphinx-design.min.css",
]
ALWAYS_KEPT_CLASS_PREFIXES = ("bs-",)  # Bootstrap's script builds these (bs-tooltip-top, ...)
CSS_CLASS = re.compile(r"\.(-?[_a-zA-Z][_a-zA-Z0-9-]*)")
# Parts of a selector whose classes need not be present for the rule to apply: :not(...) and
# other functional pseudo-classes, attribute selectors and strings.
CSS_IGNORED_PARTS = re.compile(r":[a-z-]+\([^()]*\)|\[[^\]]*\]|\"[^\"]*\"")
WORD = re.compile(r"[A-Za-z0-9_-]+")


def site_words(outdir: Path) -> set[str]:
    """Every word of every page and script of the site (MathJax aside)."""
    words: set[str] = set()
    for path in [*outdir.rglob("*.html"), *(outdir / "_static").rglob("*.js")]:
        if "mathjax" not in path.parts:
            words.update(WORD.findall(path.read_text(errors="replace")))
    return words


def prune_unused_rules(css: str, words: set[str]) -> str:
    """Drop the selectors that name a class no page or script mentions, and empty rules."""

    def needed(selector: str) -> bool:
        classes = CSS_CLASS.findall(CSS_IGNORED_PARTS.sub("", selector))
        return all(c in words or c.startswith(ALWAYS_KEPT_CLASS_PREFIXES) for c in classes)

    kept = []
    for statement in css_statements(css):
        head, _, body = statement.partition("{")
        if head.lstrip().startswith(("@media", "@supports", "@layer", "@container")):
            inner = prune_unused_rules(body[:-1], words)
            if inner:
                kept.append(f"{head}{{{inner}}}")
        elif head.lstrip().startswith("@") or "}" not in statement:
            kept.append(statement)  # @font-face, @keyframes, @charset, a trailing comment
        else:
            selectors = [s for s in head.split(",") if needed(s)]
            if selectors:
                kept.append(",".join(selectors) + "{" + body)
    return "".join(kept)


CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def prune_stylesheets(outdir: Path) -> None:
    """Remove the unused rules of PRUNED_STYLESHEETS; keep their license comments (/*! */)."""
    words = site_words(outdir)
    for name in PRUNED_STYLESHEETS:
        path = outdir / "_static" / name
        if path.is_file():
            css = path.read_text(encoding="utf-8")
            licenses = [c for c in CSS_COMMENT.findall(css) if c.startswith("/*!")]
            pruned = prune_unused_rules(CSS_COMMENT.sub("", css), words)
            path.write_text("\n".join([*licenses, pruned]), encoding="utf-8")


def font_awesome_source(vendor: Path) -> Path:
    """The theme's own copy of a Font Awesome folder of the output (never modified)."""
    import pydata_sphinx_theme

    theme = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
    return theme / "static" / "vendor" / "fontawesome" / vendor.name


def subset_font_awesome(outdir: Path) -> None:
    """Cut Font Awesome's stylesheet and fonts down to the icons the site uses.

    The sources are read from the theme package, so a rebuild starts from the full set again.
    """
    from fontTools import subset

    static = outdir / "_static"
    for vendor in static.glob("vendor/fontawesome/*"):
        source = font_awesome_source(vendor)
        if not (source / "css" / "all.min.css").is_file():
            continue
        used: set[str] = set()
        for path in [*outdir.rglob("*.html"), *static.rglob("*.js")]:
            if "mathjax" not in path.parts and "fontawesome" not in path.parts:
                used.update(FA_CLASS.findall(path.read_text(errors="replace")))
        css, codepoints = prune_icon_rules((source / "css" / "all.min.css").read_text(), used)
        for sheet in static.rglob("*.css"):
            if "fontawesome" not in sheet.parts and "mathjax" not in sheet.parts:
                codepoints.update(int(c, 16) for c in CSS_CODEPOINT.findall(sheet.read_text()))
        fonts = vendor / "webfonts"
        shutil.rmtree(fonts, ignore_errors=True)
        fonts.mkdir(parents=True)
        # Read the TrueType copies (WOFF2 needs the brotli package), write WOFF (zlib).
        for ttf in sorted((source / "webfonts").glob("*.ttf")):
            options = subset.Options()
            options.flavor = "woff"
            options.layout_features = ["*"]
            font = subset.load_font(str(ttf), options)
            subsetter = subset.Subsetter(options)
            subsetter.populate(unicodes=codepoints)
            subsetter.subset(font)
            subset.save_font(font, str(fonts / f"{ttf.stem}.woff"), options)
        css = FA_FONT_URL.sub(r'url(../webfonts/\1.woff) format("woff")', css)
        (vendor / "css" / "all.min.css").write_text(css)


def fix_pages(outdir: Path) -> None:
    """Edit the theme's markup of every page: Font Awesome script and preloads, search field."""
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = FONT_PRELOAD.sub("", FONT_AWESOME_SCRIPT.sub("", text))
        fixed = fixed.replace(SEARCH_FIELD_LABEL, SEARCH_FIELD + ' title="Search"')
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


SPECIAL_PAGES = {"index.html", "genindex.html", "search.html", "py-modindex.html"}
SOURCE_SUFFIXES = {".txt", ".md", ".ipynb", ".rst"}
IMAGE_REFERENCE = re.compile(r"_images/([^\"'?#)\s]+)")
STATIC_ASSET_SUFFIXES = {".js", ".css", ".woff", ".woff2", ".ttf", ".eot", ".otf"}


def remove_orphans(app, outdir: Path) -> None:
    """Delete what earlier builds left behind and the current book no longer uses."""
    docs = set(app.env.found_docs)
    pages = SPECIAL_PAGES | {f"{doc}.html" for doc in docs}
    for page in outdir.rglob("*.html"):
        relative = page.relative_to(outdir).as_posix()
        if not relative.startswith(("_static/", "_sources/", "_images/")) and relative not in pages:
            page.unlink()
    for source in (outdir / "_sources").rglob("*"):
        name = source.relative_to(outdir / "_sources")
        while name.suffix in SOURCE_SUFFIXES:
            name = name.with_suffix("")
        if source.is_file() and name.as_posix() not in docs:
            source.unlink()
    texts = {path: path.read_text(errors="replace") for path in outdir.rglob("*.html")}
    shown = {match for text in texts.values() for match in IMAGE_REFERENCE.findall(text)}
    for image in (outdir / "_images").glob("*"):
        if image.is_file() and image.name not in shown:
            image.unlink()
    static = outdir / "_static"
    texts |= {
        path: path.read_text(errors="replace")
        for path in static.rglob("*")
        if path.suffix in {".js", ".css", ".html"} and "mathjax" not in path.parts
    }
    for asset in sorted(static.rglob("*")):
        if (
            asset.is_file()
            and asset.suffix in STATIC_ASSET_SUFFIXES
            and "mathjax" not in asset.parts
            and not any(asset.name in text for path, text in texts.items() if path != asset)
        ):
            asset.unlink()
            asset.with_name(asset.name + ".LICENSE.txt").unlink(missing_ok=True)
    for folder in sorted(static.rglob("*"), reverse=True):  # deepest first
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def write_root_index(app, outdir: Path) -> None:
    """Rewrite the bare redirect of index.html as a page with a language, title and link."""
    root = app.config.root_doc
    index = outdir / "index.html"
    if root == "index" or not index.is_file():
        return
    if "<title>" in index.read_text(encoding="utf-8"):
        return  # already a full page
    target = f"{root}.html"
    title = html.escape(app.config.html_title or app.config.project)
    description = getattr(app.config, "site_description", "") or app.config.project
    description = html.escape(description, quote=True)
    favicon = ""
    if app.config.html_favicon:
        name = Path(app.config.html_favicon).name
        favicon = f'\n  <link rel="icon" href="_static/{html.escape(name)}" />'
    index.write_text(
        f"""<!DOCTYPE html>
<html lang="{html.escape(app.config.language or "en")}">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>{title}</title>
  <meta name="description" content="{description}" />{favicon}
  <link rel="canonical" href="{target}" />
  <meta http-equiv="refresh" content="0; url={target}" />
</head>
<body>
  <main><p><a href="{target}">{title}</a></p></main>
</body>
</html>
""",
        encoding="utf-8",
    )


def palette_png(data: bytes) -> bytes:
    """The PNG `data` stored with a 256-colour palette if that is smaller; else `data` as is.

    Animated PNGs and images that already have a palette are returned unchanged.
    """
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if getattr(image, "is_animated", False) or image.mode == "P":
            return data
        quantized = image.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    out = io.BytesIO()
    quantized.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def shrink_figures(outdir: Path) -> None:
    """Palette PNGs for the figures of the pages and of the downloadable notebooks."""
    for path in (outdir / "_images").glob("*.png"):
        data = path.read_bytes()
        smaller = palette_png(data)
        if smaller is not data:
            path.write_bytes(smaller)
    for path in (outdir / "_sources").rglob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        changed = False
        for cell in nb.get("cells", []):
            for output in cell.get("outputs", []):
                encoded = output.get("data", {}).get("image/png")
                if not isinstance(encoded, str):
                    continue
                data = base64.b64decode(encoded)
                smaller = palette_png(data)
                if smaller is not data:
                    output["data"]["image/png"] = base64.b64encode(smaller).decode("ascii")
                    changed = True
        if changed:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def finish(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    copy_mathjax(outdir)
    trim_theme_assets(outdir)
    fix_pages(outdir)
    subset_font_awesome(outdir)
    prune_stylesheets(outdir)
    remove_orphans(app, outdir)
    write_root_index(app, outdir)
    shrink_figures(outdir)


def setup(app) -> dict[str, Any]:
    # After sphinx-external-toc has written index.html (default priority 500).
    app.connect("build-finished", finish, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
