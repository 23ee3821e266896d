from .trainer import PluginTrainer
from .launch import default_argument_parser, launch_main, run_cli, train_or_evaluate

__all__ = ["PluginTrainer", "default_argument_parser", "launch_main", "run_cli", "train_or_evaluate"]
