"""nbgrader integration: the autograde step that runs the trusted grader."""
