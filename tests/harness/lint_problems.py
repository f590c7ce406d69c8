"""A workflow with a definition problem, for `wio lint`'s command-line test."""

from wio import WIO

busy = WIO.repeat(WIO.pure_from(lambda x: x + 1)).until(lambda x: x > 3, name="Spin?")
