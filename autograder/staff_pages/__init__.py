"""Staff pages that student content cannot attack.

Everything a student wrote (markdown answers, raw cells, saved outputs, attachments, extra
files) is hostile input when a TA opens it in formgrader or in nbgrader's feedback HTML. Two
layers, each enough on its own for what it covers:

- ``markdown`` and ``outputs`` render student content as inert HTML (raw HTML shown as text,
  unsafe links and images shown as their source, outputs reduced to text and raster images),
  then pass it through a maintained sanitiser (``nh3``). They plug into nbconvert's
  ``HTMLExporter`` by configuration (``nbgrader_config.py``), so formgrader and
  ``generate_feedback`` both use them.
- ``csp`` and ``server_extension`` make the pages refuse script that slips through: a
  Content-Security-Policy that allows only the page's own scripts, and files served from a
  submission as text in a sandboxed, script-free response.

``findings`` says what was neutralised, so the submission is flagged for a person to look at.
"""
