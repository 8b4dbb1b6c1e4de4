"""Errors a user can cause: the CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """A problem with the user's input (path, data, config); the message names it and the fix."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
