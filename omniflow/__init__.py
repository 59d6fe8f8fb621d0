"""omniflow: YAML storyboards to generated video."""

__version__ = "0.1.0"
