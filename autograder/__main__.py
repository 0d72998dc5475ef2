"""``python -m autograder ...`` (see ``autograder.cli``)."""
from autograder import one_shot
from autograder.cli import main

one_shot.finish(main())
