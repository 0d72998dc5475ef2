"""Make Hypothesis's draws a function of the strategy and the seed alone; import before any search.

Hypothesis (6.155.2, pinned) mixes "local constants" into its draws: literals it finds by
parsing every non-site-packages module loaded in this process, cached under ``.hypothesis/``
in the working directory. The same property would then ask different inputs under pytest, the
CLI and nbgrader (each loads other modules), a student's grade would depend on where it was
computed, the per-class input cache could not be shared between them, and grading would write
into the course root. Importing this module replaces that source with an empty one, for the
whole process. ``_get_local_constants`` is private API: ``tests/test_input_cache.py`` fails if
a newer Hypothesis no longer reads it or the draws depend on local modules again.
"""
from __future__ import annotations

from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

_NO_CONSTANTS = Constants()


def _no_local_constants() -> Constants:
    return _NO_CONSTANTS


providers._get_local_constants = _no_local_constants
providers.CONSTANTS_CACHE.cache.clear()  # drop any pool built from local constants before this import
