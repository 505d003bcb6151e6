"""``tollgate catalog import``: catalog models and prices from the genai-prices data.

``prices`` reads the package's bundled snapshot (vendor mapping, exact decimal → integer
micro-USD, rounded up); ``merge`` folds the offers into a catalog document, owning only the
models it marked; ``command`` is the CLI subcommand."""
