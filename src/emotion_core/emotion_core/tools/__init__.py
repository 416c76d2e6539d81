"""Command-line tools that ship with the core but are not part of the robot's run-time path:
``assets`` (demo clip, demo speech and the sample model, built at setup) and ``sample_model``
(a small untrained fusion model in ONNX with a full contract, for tests and benchmarks).

Nothing in the run-time modules imports this package."""
