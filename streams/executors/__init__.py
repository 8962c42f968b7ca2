"""The executors that run one task attempt each: shell, python, http and noop."""
