"""The data layer: preprocessing written from scratch, the DataLoader, and offline datasets.

Step 1 of the pipeline ("data preprocessing"): text becomes token ids or TF-IDF vectors
(:mod:`minimm.data.text`), images are normalised and cut into patches
(:mod:`minimm.data.preprocessing`), feature matrices are scaled and reduced by PCA
(:mod:`minimm.data.features`), sounds become spectrograms and band energies
(:mod:`minimm.data.audio`), and batches of aligned modalities are served
on any device by :class:`DataLoader` (:mod:`minimm.data.loader`). The datasets
(:mod:`minimm.data.datasets`) are generated or read offline.
"""

from . import audio, datasets, features, loader, preprocessing, text
from .audio import (
    band_energies,
    fft_frequencies,
    frame_signal,
    goertzel_power,
    hann_window,
    log_spectrogram,
    spectrogram,
    stft,
)
from .datasets import DatasetSplits, MultimodalDataset, load_digits, load_shapes, load_shapes_video
from .loader import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split
from .features import PCA, MinMaxScaler, StandardScaler
from .preprocessing import (
    channel_stats,
    extract_patches,
    flatten_images,
    merge_patches,
    normalize_images,
    standardize_channels,
    unflatten_images,
)
from .text import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    BagOfWords,
    TfidfVectorizer,
    Tokenizer,
    Vocabulary,
    one_hot,
    pad_sequences,
    sequence_mask,
    tokenize,
)

__all__ = [
    "audio",
    "datasets",
    "features",
    "loader",
    "preprocessing",
    "text",
    "frame_signal",
    "hann_window",
    "stft",
    "spectrogram",
    "log_spectrogram",
    "fft_frequencies",
    "band_energies",
    "goertzel_power",
    "DatasetSplits",
    "MultimodalDataset",
    "load_digits",
    "load_shapes",
    "load_shapes_video",
    "Dataset",
    "TensorDataset",
    "Subset",
    "random_split",
    "default_collate",
    "DataLoader",
    "StandardScaler",
    "MinMaxScaler",
    "PCA",
    "normalize_images",
    "channel_stats",
    "standardize_channels",
    "flatten_images",
    "unflatten_images",
    "extract_patches",
    "merge_patches",
    "tokenize",
    "Tokenizer",
    "Vocabulary",
    "PAD",
    "UNK",
    "BOS",
    "EOS",
    "SPECIAL_TOKENS",
    "pad_sequences",
    "sequence_mask",
    "one_hot",
    "BagOfWords",
    "TfidfVectorizer",
]
