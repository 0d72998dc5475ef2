"""Instant feedback: a grading service that watches nbgrader's exchange (``python -m autograder serve``).

A student's ``nbgrader submit`` lands in ``<exchange>/<course>/inbound/``; the service notices
it (``watcher``), snapshots and queues it fairly (``inbound``, ``store``, ``queue``), decides what
the student may see (``policy``, ``ratelimit``), grades it with the same sandboxed workers as
``grade`` (``graders``), and publishes the feedback where nbgrader's ``release_feedback`` would
(``release``), so ``nbgrader fetch_feedback`` returns it. It never touches the grade of record:
its state is its own SQLite file (``store``), and nothing is written into ``submitted/``,
``autograded/``, ``feedback/`` or ``gradebook.db``. ``loop`` ties the parts together;
``status`` and ``metrics`` show what it is doing.
"""
