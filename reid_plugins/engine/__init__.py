from .trainer import PluginTrainer
from .launch import default_argument_parser, launch_main

__all__ = ["PluginTrainer", "default_argument_parser", "launch_main"]
