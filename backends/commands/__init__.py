"""The ``ipc-bench`` subcommands, one module each; ``backends.cli`` parses and dispatches."""
