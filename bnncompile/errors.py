"""The one exception type users see: a message saying what, where and what to do."""


class BnnError(Exception):
    """A problem with the user's model or request (not a bug in bnncompile)."""

    def __init__(self, message: str, node: str | None = None, hint: str | None = None):
        self.node = node
        self.hint = hint
        text = message if node is None else f"node '{node}': {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
