"""The web console every node serves at ``/`` (issue 15, being built): for now its static
files, front-end libraries vendored from npm (``web/vendor.py``) and served by the node
itself, so nothing loads from another origin."""

from engine.web.static import STATIC, VENDOR, VendoredFile, add_static_routes, vendored

__all__ = ["STATIC", "VENDOR", "VendoredFile", "add_static_routes", "vendored"]
