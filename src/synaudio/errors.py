"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """A problem the user can fix (bad parameter, missing tool, damaged file).

    The message names the problem and the fix; the CLI prints it without a traceback.
    """
