"""Autograder for the loss-functions assignment: sandboxed student code, trusted judging."""
