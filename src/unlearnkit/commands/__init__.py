"""The `unlearn` subcommands: each module adds its parser and a function that runs it."""
