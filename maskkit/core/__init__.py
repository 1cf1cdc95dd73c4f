"""The pure core: pseudonym grammar, applying spans, the Messages API schema, restorers, SSE. No I/O here."""
