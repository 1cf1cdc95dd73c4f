"""Editable installs only (`uv sync`). The wheel ships mcp_server/ as `maskkit_mcp` (a top-level `mcp_server`
clashes with other PyPI projects), and hatchling cannot rename a package in an editable install, so
`dev-mode-dirs` puts this folder on sys.path and this shim makes `maskkit_mcp` the checkout's live mcp_server/.
Excluded from the wheel.
"""

import os

__path__ = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
