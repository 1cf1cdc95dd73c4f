"""The test suite's stand-ins and helpers, importable from the tests, `bench/` and the notebooks.

`uv sync` installs this folder's distribution (`mktests`, editable) into the dev environment, so nothing edits
`sys.path`: `from mktests.standin_model import StandinModel`, or `python -m mktests.standin_model --port 0` for the
stand-in model as a process. Never shipped with maskkit.

    standin_model    the local Anthropic Messages API the tests, benchmarks and notebooks talk to
    standin_openai   the same for the OpenAI chat API (LiteLLM guardrail tests)
    awsgen           generated AWS documents with planted values and decoys
    leakcheck        finds planted values in anything that left the machine
    proxyfixtures    a real proxy (thread or process) in front of the stand-in, and the real Claude Code CLI
    purehelpers      the pure masker with a dict in place of the vault
    rediscluster     a local Redis Cluster of real redis-server processes
"""
