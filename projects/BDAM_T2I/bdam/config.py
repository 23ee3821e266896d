"""Config keys of BDAM (text-to-image Re-ID). Call add_bdam_config(cfg) before merge_from_file."""
from fastreid.config import CfgNode as CN

from reid_plugins.config import retire_keys

# Loss names (MODEL.BDAM.LOSSES.NAME / MODEL.BDAM.GRADNORM.TASKS), see bdam/losses.py
ALL_LOSSES = ("InfoNCE", "Triplet", "Adversarial", "HSIC", "GateReg", "FusionMatch", "ClothingMatch")


def add_bdam_config(cfg):
    _C = cfg
    _C.MODEL.META_ARCHITECTURE = "BDAMT2I"
    # ViT-style normalisation (mean = std = 0.5) on fast-reid's 0-255 tensors
    _C.MODEL.PIXEL_MEAN = [127.5, 127.5, 127.5]
    _C.MODEL.PIXEL_STD = [127.5, 127.5, 127.5]

    _C.MODEL.BDAM = CN()
    _C.MODEL.BDAM.DROPOUT = 0.1            # "dropout 0.1 throughout": ViT, BERT, BDAM, fusion
    # attention-probability dropout of ViT / BERT / BDAM; -1: same as DROPOUT. 0 lets torch use fused attention
    # kernels (on CPU the dropout mask of [B, heads, L, L] costs more than the attention itself)
    _C.MODEL.BDAM.ATTN_DROPOUT = -1.0
    _C.MODEL.BDAM.EMBED_DIM = 512          # shared image-text space of the dual encoder (InfoNCE / retrieval)

    # Image encoder: transformers ViTModel. PRETRAINED_DIR: a local vit-base-patch16-224 folder; empty: random init
    # with the sizes below. Input size comes from INPUT.SIZE_TRAIN / SIZE_TEST.
    _C.MODEL.BDAM.IMAGE = CN()
    _C.MODEL.BDAM.IMAGE.PRETRAINED_DIR = ""
    _C.MODEL.BDAM.IMAGE.PATCH_SIZE = 16
    _C.MODEL.BDAM.IMAGE.HIDDEN_SIZE = 768
    _C.MODEL.BDAM.IMAGE.NUM_LAYERS = 12
    _C.MODEL.BDAM.IMAGE.NUM_HEADS = 12

    # Text encoder: transformers BertModel. PRETRAINED_DIR: a local bert-base-uncased folder; "minilm": the
    # bundled pretrained MiniLM-L6 (embedded default); empty: random init with the sizes below.
    _C.MODEL.BDAM.TEXT = CN()
    _C.MODEL.BDAM.TEXT.PRETRAINED_DIR = "minilm"
    _C.MODEL.BDAM.TEXT.VOCAB = ""          # vocab.txt or a folder with one; empty: bundled bert-base-uncased vocab
    _C.MODEL.BDAM.TEXT.LENGTH = 77         # tokens incl. [CLS]/[SEP]
    _C.MODEL.BDAM.TEXT.POOL = "cls"        # "cls" | "mean" (masked mean of the last hidden states)
    _C.MODEL.BDAM.TEXT.FREEZE = False      # frozen: no_grad + eval mode + a feature cache keyed by token ids
    # "bn": BatchNorm1d on the pooled text feature. Frozen sentence encoders give anisotropic features (all captions
    # nearly parallel; projects/BDAM_T2I/README.md "Measured"); centring and scaling per dimension lets the linear
    # heads see the differences from the first step. "none": the paper's plain [CLS] feature.
    _C.MODEL.BDAM.TEXT.FEAT_NORM = "none"
    # "bn": BatchNorm1d on the identity feature before the retrieval embedding (the fusion head keeps the raw one).
    # A randomly initialised ViT's pooled features differ little between images; the embedding's bias then dominates
    # under Adam and every image embedding collapses to one direction (README "embedding collapse"). "none": the
    # paper's plain linear projection.
    _C.MODEL.BDAM.IMAGE.FEAT_NORM = "none"
    _C.MODEL.BDAM.TEXT.KEEP_LAYERS = 0     # > 0: keep only the lowest N layers of the pretrained text encoder
    _C.MODEL.BDAM.TEXT.HIDDEN_SIZE = 768
    _C.MODEL.BDAM.TEXT.NUM_LAYERS = 12
    _C.MODEL.BDAM.TEXT.NUM_HEADS = 12

    # Bidirectional Decoupling Alignment Module (paper Sec. 3.2)
    _C.MODEL.BDAM.MODULE = CN()
    _C.MODEL.BDAM.MODULE.ENABLED = True    # False: Table 1 baseline (mean patch token -> linear identity feature)
    _C.MODEL.BDAM.MODULE.DIM = 768         # identity / clothing feature size (paper: 768)
    _C.MODEL.BDAM.MODULE.NUM_LAYERS = 6    # self-attention layers per branch (paper: >3, Table 1 "Shallow" = 3)
    _C.MODEL.BDAM.MODULE.NUM_HEADS = 12
    _C.MODEL.BDAM.MODULE.MLP_RATIO = 4
    _C.MODEL.BDAM.MODULE.CROSS_ATTN = True  # Table 1 "w/o Cross-Attn": False
    _C.MODEL.BDAM.MODULE.CROSS_LAYERS = 1
    _C.MODEL.BDAM.MODULE.GATE = True       # Table 1 "w/o Gate": False (f_id^gate = f_id_hat, f_clo^gate = f_clo_hat)

    # Mamba fusion head (paper Sec. 3.4), used to re-score the dual encoder's top-K gallery images per text
    _C.MODEL.BDAM.FUSION = CN()
    _C.MODEL.BDAM.FUSION.ENABLED = True
    # what the Mamba layers scan (bdam/fusion.py): "vector" (the paper's formula: the fused vector, one token),
    # "tokens3" ([w1 f_img, w2 f_txt, f_fusion]) or "sequence" (the gated identity tokens then the text tokens)
    _C.MODEL.BDAM.FUSION.VARIANT = "vector"
    _C.MODEL.BDAM.FUSION.BIDIRECTIONAL = False  # "sequence" only: a second Mamba per layer scans backwards
    # standardisation of the head's inputs before the alignment MLP (ours): "bn" (per dimension over the batch:
    # removes what all samples share), "ln" or "none" (the inputs as the encoders give them)
    _C.MODEL.BDAM.FUSION.INPUT_NORM = "bn"
    _C.MODEL.BDAM.FUSION.DIM = 256         # Mamba d_model
    _C.MODEL.BDAM.FUSION.ALIGN = "mlp"     # "mlp" | "linear" (Table 2 "w/o Alignment": plain linear resize)
    _C.MODEL.BDAM.FUSION.GATE = True       # Table 2 "w/o Gate": fixed w = (0.5, 0.5)
    _C.MODEL.BDAM.FUSION.MAMBA_LAYERS = 2  # Table 2 "w/o Mamba": 0
    _C.MODEL.BDAM.FUSION.D_STATE = 16
    _C.MODEL.BDAM.FUSION.D_CONV = 4
    _C.MODEL.BDAM.FUSION.EXPAND = 2
    _C.MODEL.BDAM.FUSION.OUT_DIM = 256     # D_out of f_final
    # FusionMatch (ours: the paper gives the fused feature no objective) trains the head on detached features, so the
    # dual encoder is shaped by the paper's losses only (measured: README "GradNorm starved the retrieval losses")
    _C.MODEL.BDAM.FUSION.DETACH_INPUTS = True

    _C.MODEL.BDAM.LOSSES = CN()
    _C.MODEL.BDAM.LOSSES.NAME = ALL_LOSSES
    _C.MODEL.BDAM.LOSSES.INFONCE = CN({"TAU": 0.02, "SCALE": 1.0})
    _C.MODEL.BDAM.LOSSES.TRIPLET = CN({"MARGIN": 0.3, "SCALE": 1.0})
    # POSITIVES: which clothing texts count as a clothing feature's own in eq. 1: "outfit" (the clothing text of the
    # same image, or the identical text) or "pid" (every clothing text of the same person, which on a clothes-changing
    # dataset includes other outfits)
    _C.MODEL.BDAM.LOSSES.ADV = CN({"TAU": 0.07, "SCALE": 1.0, "POSITIVES": "outfit"})
    # clothing matching (Sec. 4.3; off by default, add "ClothingMatch" to NAME): InfoNCE between the projected
    # clothing feature and the clothing description, same-outfit texts as positives
    _C.MODEL.BDAM.LOSSES.CLO_MATCH = CN({"TAU": 0.07, "SCALE": 1.0})
    _C.MODEL.BDAM.LOSSES.HSIC = CN({"SCALE": 1.0})
    _C.MODEL.BDAM.LOSSES.GATE_REG = CN({"SCALE": 0.1})
    # OBJECTIVE: "listwise" (softmax CE over the text's image and its NUM_NEGATIVES hardest other-identity images)
    # or "itm" (ALBEF: binary matching of each text's image, one negative image per text and one negative text per
    # image, negatives drawn with probability softmax(dual similarity / ITM_TAU) among other identities)
    _C.MODEL.BDAM.LOSSES.FUSION = CN({"NUM_NEGATIVES": 8, "SCALE": 1.0, "OBJECTIVE": "listwise", "ITM_TAU": 0.05})

    # GradNorm over the task losses (reid_plugins.solver.gradnorm.GradNorm); losses not listed in TASKS (or not in
    # LOSSES.NAME) keep their SCALE as a fixed weight. The tasks are the paper's (eq. 6, Sec. 3.5) plus clothing
    # matching when enabled (the paper's matching loss of the clothing branch, Sec. 4.3). GateReg is not one: it is ~0
    # at initialisation (gates at 0.5), so GradNorm's L_k(t)/L_k(0) ratio would be undefined. FusionMatch (ours, not
    # in the paper) is not one either: the head learns slowly, and GradNorm, which raises the weight of the task whose
    # loss falls least, gave it nearly all the weight, starving the retrieval losses (README "GradNorm starved ...").
    _C.MODEL.BDAM.GRADNORM = CN()
    _C.MODEL.BDAM.GRADNORM.ENABLED = True
    _C.MODEL.BDAM.GRADNORM.TASKS = ("InfoNCE", "Triplet", "Adversarial", "HSIC", "ClothingMatch")
    _C.MODEL.BDAM.GRADNORM.ALPHA = 1.5             # eq. 6: the weight of L_GradNorm (relative to LOG_REG)
    # eq. 5's target r_k^e * Gref: e = 1 in the paper (no exponent); standard GradNorm (Chen et al.): e = alpha
    _C.MODEL.BDAM.GRADNORM.TARGET_EXPONENT = 1.0
    _C.MODEL.BDAM.GRADNORM.REFERENCE = "first"     # Gref: "first" task's norm (paper eq. 5) | "mean" (standard)
    _C.MODEL.BDAM.GRADNORM.LR = 0.025
    _C.MODEL.BDAM.GRADNORM.MIN_WEIGHT = 1e-4
    _C.MODEL.BDAM.GRADNORM.MAX_WEIGHT = 10.0
    _C.MODEL.BDAM.GRADNORM.LOG_REG = 1e-3
    # "auto": the last parameterised layer (in forward order) that every task's loss reaches, found from the autograd
    # graphs of the first step's task losses (reid_plugins.solver.gradnorm.last_shared_layer); or a module name
    # (its parameters) or a parameter name of the model
    _C.MODEL.BDAM.GRADNORM.SHARED_PARAM = "auto"

    # SOLVER.NUM_THREADS (reid_plugins.config): on a CPU shared with other jobs, OpenMP threads that spin-wait for
    # each other can make 2 threads many times slower than 1 (README "Measured")
    _C.SOLVER.LOG_PERIOD = 20              # iterations between progress lines (fast-reid hard-codes 200)

    # Retrieval: dual-encoder similarity for all pairs, then the fusion head re-orders the top-K images per text by
    # z(fusion logit) + LAMBDA * z(cosine), both standardised within the text's top-K (bdam/rerank.py). K and LAMBDA
    # are chosen on the validation split from TOPKS x LAMBDAS plus the dual encoder's own order, so the chosen setting
    # is never below the dual encoder on validation. Without a validation split, TOPK / LAMBDA are used as given.
    _C.TEST.RERANK_T2I = CN()
    _C.TEST.RERANK_T2I.ENABLED = True
    _C.TEST.RERANK_T2I.TOPKS = (4, 8, 16, 32)
    _C.TEST.RERANK_T2I.LAMBDAS = (0.0, 0.5, 1.0, 2.0, 4.0)
    _C.TEST.RERANK_T2I.TOPK = 32           # used when there is no validation split
    _C.TEST.RERANK_T2I.LAMBDA = 1.0        # used when there is no validation split
    # identities of the training split evaluated like a test split, to tell a re-ranker that does not learn (no gain
    # on training identities) from one that does not generalise (gain there, none on unseen ones); 0: off
    _C.TEST.RERANK_T2I.TRAIN_IDS = 30
    # pairs per fusion forward; with FUSION.VARIANT "sequence" each pair is L_img + L_txt tokens: use ~256
    _C.TEST.RERANK_T2I.CHUNK = 4096
    _C.TEST.VIS.ENABLED = True             # BDAM's figure: gate-weight distributions (paper Fig. 3) per evaluation
    _C.TEST.EVALUATOR = "T2IRetrievalEvaluator"

    _C.DATASETS.T2I = CN()
    # replaces the released annotation of the training dataset(s), e.g. the captioning pipeline's output with
    # identity_description / clothing_description (absolute, or relative to the dataset folder)
    _C.DATASETS.T2I.ANNOTATION_FILE = ""
    _C.DATASETS.T2I.ID_TEXT = "caption"    # identity text: "caption" | "identity_description"
    _C.DATASETS.T2I.MISSING_DESCRIPTION = "caption"  # when a description is absent: "caption" (fallback) | "error"
    _C.DATASETS.T2I.TEST_SPLIT = "test"    # "test" | "val" (split evaluated for DATASETS.TESTS)
    # for a dataset without a val split: this fraction of the training identities (evenly spaced in sorted-id order,
    # the same for every seed) is held out of training as the validation split; 0: none (bdam/data.py)
    _C.DATASETS.T2I.VAL_FROM_TRAIN = 0.0
    _C.DATASETS.T2I.CHECK_IMAGES = True    # every annotated image must exist (checked once at load)
    retire_keys(cfg, {"TEST.GATE_HIST": "TEST.VIS.ENABLED"})
    return cfg
