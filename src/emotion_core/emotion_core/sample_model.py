"""Compatibility path of ``emotion_core.tools.sample_model`` (a tool for tests and benchmarks,
not run-time code): new code imports from there; ``python -m emotion_core.sample_model`` still
works."""
from .tools.sample_model import (OPSET, build_sample_model, main, sample_contract,  # noqa: F401
                                 write_sample_model)

if __name__ == "__main__":
    main()
