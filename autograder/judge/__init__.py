"""The trusted grader: references, properties, scoring. Never imports student code."""
