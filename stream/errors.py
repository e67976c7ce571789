"""The one error type the CLI turns into a single line on stderr (no stack trace)."""


class GmvError(RuntimeError):
    """A failure a user can fix; the message names the cause, the fix and, if any, the log."""
