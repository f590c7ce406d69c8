"""The web console of `wio serve`, at ``/``: workflows, instances and one instance's
diagram, journal and state, with the operator's verbs (docs/console.md).

Pages are rendered here, in plain HTML with a small stylesheet and script of our
own (``static/``): no CDN, no third-party bundle. Diagrams are our Graphviz SVG,
with the instance's progress marked. The page's script calls the HTTP API for
every change (signals, retry, cancel, fork, deliver), so the console can do
nothing the API refuses.
"""

from wio.console.pages import console_router

__all__ = ["console_router"]
