"""CUHK03 in its "new protocol" release (Zhong et al., CVPR 2017: 767 training / 700 test identities).

    <root>/cuhk03-np/{labeled,detected}/{bounding_box_train,bounding_box_test,query}/NNNN_cK_*.png

fast-reid 1.4.0 only reads the raw `cuhk-03.mat` release. `CUHK03NP` reads the labeled boxes (the common default);
`CUHK03NPDetected` the detected ones.
"""
from fastreid.data.datasets import DATASET_REGISTRY

from .market_layout import MarketLayoutDataset


@DATASET_REGISTRY.register()
class CUHK03NP(MarketLayoutDataset):
    dataset_dir = "cuhk03-np/labeled"
    dataset_name = "cuhk03np"
    extensions = (".png",)


@DATASET_REGISTRY.register()
class CUHK03NPDetected(MarketLayoutDataset):
    dataset_dir = "cuhk03-np/detected"
    dataset_name = "cuhk03npdetected"
    extensions = (".png",)
