"""The web console every node serves at ``/``, beside its API on the same port.

A person signs in with an API token, exchanged for a session cookie (``signin``), and
works through pages that read the API's own queries and act through its own write path
with that token (``problems``, ``actions``, ``subject``, ``health``, ``pools``). Pages
are server-rendered (Jinja2) and follow the node's change stream with htmx; the
front-end libraries are vendored from npm (``web/vendor.py``) and served by the node
itself (``static``), so nothing loads from another origin. :class:`NodeServer` serves
the API and the console together.
"""

from engine.web.pages import Console
from engine.web.server import NodeServer, add_console
from engine.web.static import STATIC, VENDOR, VendoredFile, vendored

__all__ = ["STATIC", "VENDOR", "Console", "NodeServer", "VendoredFile", "add_console", "vendored"]
