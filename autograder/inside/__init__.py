"""Code that runs inside the sandbox, next to student code. It judges nothing."""
