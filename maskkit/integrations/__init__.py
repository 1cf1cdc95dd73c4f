"""maskkit inside other tools' gateways (LiteLLM): each module is loaded by that tool, never by maskkit itself."""
