"""The one exception a bad configuration raises, in a module of its own so that any layer can raise it.

Its message names the variable, what is wrong and the fix; the servers' ``__main__`` print it as
one line instead of a traceback. :mod:`shared.settings` re-exports it, where most code imports it.
"""


class ConfigError(ValueError):
    """A setting that cannot work; the message says what is wrong and how to fix it."""
