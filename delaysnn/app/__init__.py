"""The application layer: one function per command (``api``), the option rules and loaders behind
them (``pipeline``), ``verify``, the deployment search (``frontier``), the demo, ``inspect`` and the
float-vs-integer agreement. It sits above the core (``ir``, ``sim``, ``model``, ``quantization``,
``estimate``) and, with the CLI, is the only importer of the backends (``exporters``)."""
