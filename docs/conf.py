"""Sphinx configuration of the course package's documentation site (MyST Markdown pages).

Build: ``.venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""
project = "Loss functions autograder"
author = "the dl-losses course staff"
extensions = ["myst_parser"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
html_title = "Loss functions autograder"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "use_edit_page_button": False,
    "icon_links": [],
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": []}  # one level of pages: the top bar is the navigation
html_show_sourcelink = False
