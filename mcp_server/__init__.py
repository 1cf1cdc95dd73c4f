"""maskkit's MCP server: tools that mask, restore and look up AWS identifiers for Claude Code.

`server.py` holds the server and its tools, `reveal.py` the rule for who may see originals and the audit log,
`launcher.py` the `maskkit proxy` child process, `shell.py` bounded commands and file I/O, and `__main__.py`
the `maskkit-mcp` command. Importing this package does nothing else: no settings, no connections.
"""
