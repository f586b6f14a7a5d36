"""Image datasets, loaders, transforms and class-split tasks.

The core type is [`ImageDataset`][dassgnn.data.ImageDataset] (``uint8`` images ``(N, H, W, C)`` with
labels and class names); [`DatasetSplits`][dassgnn.data.DatasetSplits] pairs a train and a test set.
Datasets are loaded by name with [`load_dataset()`][dassgnn.data.load_dataset] (see
[`list_datasets()`][dassgnn.data.list_datasets])
or built from arrays, image folders, ``.npz`` files or ``torchvision``-style
datasets; a path works wherever a name does ([`load_path()`][dassgnn.data.load_path]).
A [`Task`][dassgnn.data.Task] picks classes of a dataset and prepares them::

    from dassgnn.data import Task, load_dataset

    digits = load_dataset("digits")
    task = Task.sample("digits", num_classes=5, seed=0, image_size=16, channels=1)
    splits = task.load()

File-backed datasets are read from the folder named by the ``DASSGNN_DATA``
environment variable (or ``root=``).
"""

from dassgnn.data.catalog import (
    DATA_ENV,
    DATASETS,
    META_TEST_ONLY,
    NPZ_DATASETS,
    checkout_data_dir,
    data_dir,
    is_dataset_path,
    list_datasets,
    load_dataset,
)
from dassgnn.data.dataset import DatasetSplits, ImageDataset, stratified_split
from dassgnn.data.folder import IMAGE_EXTENSIONS, from_folder
from dassgnn.data.loaders import clear_cache, from_arrays, from_npz, from_torchvision
from dassgnn.data.paths import check_layout, content_hash, dataset_id, load_path, num_classes_at
from dassgnn.data.shipped import (
    SKIMAGE_FILES,
    SKIMAGE_TEXTURE_IMAGES,
    TexturePatches,
    load_digits_dataset,
    load_mnist5k,
    load_skimage_textures,
    make_skimage_textures,
    skimage_texture_images,
)
from dassgnn.data.task import Task
from dassgnn.data.transforms import luminance, prepare, resize, resize_images, to_channels

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "IMAGE_EXTENSIONS",
    "META_TEST_ONLY",
    "NPZ_DATASETS",
    "SKIMAGE_FILES",
    "SKIMAGE_TEXTURE_IMAGES",
    "DatasetSplits",
    "ImageDataset",
    "Task",
    "TexturePatches",
    "check_layout",
    "checkout_data_dir",
    "clear_cache",
    "content_hash",
    "data_dir",
    "dataset_id",
    "from_arrays",
    "from_folder",
    "from_npz",
    "from_torchvision",
    "is_dataset_path",
    "list_datasets",
    "load_dataset",
    "load_digits_dataset",
    "load_mnist5k",
    "load_path",
    "load_skimage_textures",
    "luminance",
    "make_skimage_textures",
    "num_classes_at",
    "prepare",
    "resize",
    "resize_images",
    "skimage_texture_images",
    "stratified_split",
    "to_channels",
]
