"""Datasets (reid_plugins.data.datasets, registered into fast-reid on setup), the synthetic benchmark generator
(reid_plugins.data.synthetic, light: no torch) and the text-to-image datasets (reid_plugins.data.t2i)."""
