"""Puts projects/BDAM_T2I on sys.path so that tests import the `bdam` package like train_net.py does."""
import os
import sys

PROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                       "projects", "BDAM_T2I")
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)
