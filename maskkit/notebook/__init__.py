"""The notebook face: the `%%safeclaude` magic and the audit DataFrame. Imports IPython/pandas, so only on demand."""
