"""maskkit's MCP server: tools that mask, restore and look up AWS identifiers for Claude Code.

`server.py` holds the server and its tools, `reveal.py` the rule for who may see originals and the audit log,
`shell.py` bounded commands and file I/O, and `__main__.py` the `maskkit-mcp` command. The `maskkit proxy` child
process is started by maskkit/launch.py, the launcher `maskkit run` uses too. Importing this package does nothing
else: no settings, no connections.
"""
