"""Autograder for the loss-functions assignment: sandboxed student code, trusted judging."""
import os
import sys

# jsonschema (imported by nbformat, so by every command and worker) compiles 38 Lark grammars
# at import when the optional ``rfc3987_syntax`` is installed (jupyter_events pulls it in through
# jsonschema's format-nongpl extra): 3-8 s per process measured here, for IRI format checks that
# notebook validation never makes. Our processes skip it; a process that imported jsonschema
# already (a Jupyter server loading our extension) is left as it is.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)
# Hypothesis loads every installed plugin at import: trio's (a dependency of the Jupyter stack)
# imports trio and pytest, 0.2 s of every grading process, to make trio's scheduler
# deterministic; nothing here runs trio, and the plugin draws nothing. Set for our processes
# (and their children) only where Hypothesis is not loaded yet.
if "hypothesis" not in sys.modules:
    os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
