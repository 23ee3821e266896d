from . import datasets  # noqa: F401  (registers datasets into fastreid's DATASET_REGISTRY)
