"""Puts projects/MUVA on sys.path so that tests import the `muva` package like train_net.py does."""
import os
import sys

PROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                       "projects", "MUVA")
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)
