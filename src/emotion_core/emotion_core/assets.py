"""Compatibility path of ``emotion_core.tools.assets`` (a setup tool, not run-time code):
new code imports from there; ``python -m emotion_core.assets`` still works."""
from .tools.assets import (DEMO_FPS, DEMO_SECONDS, DEMO_SIZE, POCKETSPHINX_DIR,  # noqa: F401
                           SAMPLE_RATE, astronaut_frames, build_assets, demo_paths, main,
                           speech_samples, synthetic_voice, write_video)

if __name__ == "__main__":
    main()
