"""The one error type the CLI turns into a single line on stderr (no stack trace)."""


class GmvError(RuntimeError):
    """A failure a user can fix; the message names the cause, the fix and, if any, the log."""


def one_line(exc: BaseException) -> str:
    """An error's first sentence on one line: clickhouse-driver puts the code on one line and the
    reason on the next (``Code: 999.`` / ``Coordination::Exception: ... Stack trace: ...``)."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = text.split(" Stack trace:")[0].split(". Stack trace")[0].strip()
    return text[:200] if text else type(exc).__name__
