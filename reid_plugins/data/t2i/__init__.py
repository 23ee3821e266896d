"""Text-to-image Re-ID datasets (CUHK-PEDES, ICFG-PEDES, RSTPReid, synthetic benchmark) and the annotation format.

Importing this package registers the datasets into fast-reid's DATASET_REGISTRY (light: json + fast-reid only);
the tokenised torch datasets (transformers) are in :mod:`reid_plugins.data.t2i.tokenized`.

Annotation format (read by every dataset here, and the format ``reid_plugins.captioning`` writes)
----------------------------------------------------------------------------------------------
A UTF-8 JSON **list with one object per image** (the CUHK-PEDES ``reid_raw.json`` layout)::

    [{"split": "train",                         # "train" | "test"; any other value ("val", ...) is read as val
      "file_path": "CUHK01/0363004.png",        # image path relative to the dataset's image folder
                                                #   (RSTPReid's data_captions.json names this key "img_path")
      "id": 1,                                  # integer person id (raw; train ids are relabelled 0..N-1)
      "captions": ["A woman wearing ...", ...], # non-empty list of non-empty strings
      "identity_description": "An adult woman, slim build, ...",   # optional: identity-only MLLM description
      "clothing_description": "A white blouse, black trousers, ...", # optional: clothing-only MLLM description
      ...}]                                     # other keys (processed_tokens, styles, ...) are kept but unused

Each image appears once; one person id never spans two splits. A malformed file raises
:class:`T2IAnnotationError` naming the file, the entry index and the key. Evaluation follows IRRA: the gallery is
every image of the split, the queries are every caption, a match is a pid match.

Layouts (``<root>`` = DATASETS.ROOT or FASTREID_DATASETS)::

    CUHKPEDES     <root>/CUHK-PEDES/reid_raw.json         images <root>/CUHK-PEDES/imgs/<file_path>
    ICFGPEDES     <root>/ICFG-PEDES/ICFG-PEDES.json       images <root>/ICFG-PEDES/imgs/<file_path>
    RSTPReid      <root>/RSTPReid/data_captions.json      images <root>/RSTPReid/imgs/<img_path>
    SynthPedT2I{A..E} <root>/synthped/domain_{A..E}/captions.json, file_path relative to the domain folder
"""
from ..annotations import DESCRIPTION_KEYS, T2IAnnotationError, T2IEntry, load_annotations, split_of
from .datasets import (CUHKPEDES, ICFGPEDES, T2I_DATASETS, RSTPReid, SynthPedT2IA, SynthPedT2IB, SynthPedT2IC,
                       SynthPedT2ID, SynthPedT2IE, T2IDataset, T2ISample, T2ISplit, build_t2i_dataset)

__all__ = ["DESCRIPTION_KEYS", "T2IAnnotationError", "T2IEntry", "load_annotations", "split_of", "CUHKPEDES",
           "ICFGPEDES", "RSTPReid", "SynthPedT2IA", "SynthPedT2IB", "SynthPedT2IC", "SynthPedT2ID", "SynthPedT2IE",
           "T2IDataset", "T2ISample", "T2ISplit", "T2I_DATASETS", "build_t2i_dataset"]
