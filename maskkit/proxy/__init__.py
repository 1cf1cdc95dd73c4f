"""The masking proxy: the ASGI app (`app`), serving it (`serve`), client keys, the headless Claude Code route and
the LiteLLM transport. Importing this package loads nothing; import the module you need."""
