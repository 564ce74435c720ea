"""Image sources → ``ImageSet``: scikit-learn's digits, torchvision's on-disk datasets, image
folders. Each source yields a train set, the source's own test set when it has one, and a
JSON-friendly report (class counts, image sizes and modes, skipped files with reasons, exact
duplicates).

Image folders are decoded with PIL in a process pool. Modes are unified per dataset: if every image
is grayscale-like (1, L, LA, I, I;16*, F) the set has 1 channel, otherwise 3 (RGB). Transparent
images (RGBA, LA, P and anything with a transparency key) are composited on white; 16-bit images are
rounded to 8 bits (v × 255 / 65535); "I" (32-bit) is read as 16-bit data; "F" is clipped to 0..255.
Animated GIFs and multi-page TIFFs contribute their first frame.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import torch
import torchvision.datasets as tvd
from PIL import Image, UnidentifiedImageError

from deepvision.config import ConfigError, check_choice, check_range
from deepvision.data.imageset import ImageSet
from deepvision.data.split import duplicate_report

SOURCES = ("digits", "torchvision", "folder")
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# torchvision dataset class → layout of its ``.data`` array; these are read without a PIL loop.
TORCHVISION_LAYOUTS = {"MNIST": "NHW", "FashionMNIST": "NHW", "KMNIST": "NHW",
                       "CIFAR10": "NHWC", "CIFAR100": "NHWC", "SVHN": "NCHW", "STL10": "NCHW"}
_SPLIT_ARGUMENT = frozenset({"SVHN", "STL10"})  # these take split="train"/"test", not train=bool
_POOL_MIN_FILES = 256  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class SourceConfig:
    """Where the images come from (``ingest`` parameters)."""

    source: str = "digits"
    name: str | None = None  # torchvision dataset class, e.g. CIFAR10
    root: str = "data/01_raw"
    download: bool = False  # torchvision only; false guarantees nothing touches the network
    image_size: int | None = None  # pixels; resize every image to this square (aspect not kept)
    max_image_pixels: int = 50_000_000  # larger images are refused as decompression bombs
    workers: int = 2  # decoding processes for image folders

    def __post_init__(self) -> None:
        check_choice(self.source, SOURCES, "ingest.source")
        if self.source == "torchvision":
            check_choice(self.name, TORCHVISION_LAYOUTS, "ingest.name")
        if not self.root:
            raise ConfigError("ingest.root must name a folder")
        if self.image_size is not None:
            check_range(self.image_size, "ingest.image_size", 1)
        check_range(self.max_image_pixels, "ingest.max_image_pixels", 1)
        check_range(self.workers, "ingest.workers", 1)


@dataclass(frozen=True, eq=False)
class SourceResult:
    train: ImageSet
    test: ImageSet | None
    report: dict[str, Any] = field(default_factory=dict)


def load_source(cfg: SourceConfig) -> SourceResult:
    """Read the configured source into uint8 ``ImageSet``s plus an ingest report."""
    loaders = {"digits": _load_digits, "torchvision": _load_torchvision, "folder": _load_folder}
    train, test, details = loaders[cfg.source](cfg)
    sets = {"train": train, "test": test}
    report = {"source": cfg.source, **details,
              "splits": {name: s.class_counts() for name, s in sets.items() if s is not None}}
    report.setdefault("duplicates", duplicate_report(sets))
    report.setdefault("image_sizes", _size_histogram(train, test))
    report.setdefault("modes", _mode_histogram(train, test))
    return SourceResult(train, test, report)


# --- digits ---------------------------------------------------------------------------------------

def _load_digits(cfg: SourceConfig) -> tuple[ImageSet, None, dict]:
    # Imported here: only this source needs scikit-learn, whose import is slow.
    from sklearn.datasets import load_digits

    digits = load_digits()
    scaled = np.floor(digits.images * 255 / 16 + 0.5).astype(np.uint8)  # 0..16 → 0..255
    images = torch.from_numpy(scaled).unsqueeze(1).contiguous()
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    return ImageSet(images, labels, tuple(str(d) for d in range(10))), None, {}


# --- torchvision ----------------------------------------------------------------------------------

def _load_torchvision(cfg: SourceConfig) -> tuple[ImageSet, ImageSet, dict]:
    cls = getattr(tvd, cfg.name)
    root = Path(cfg.root)
    if not cfg.download:
        missing = [p for p in expected_files(cfg.name, root) if not p.exists()]
        if missing and not _mnist_legacy_exists(cfg.name, root):
            raise FileNotFoundError(_missing_message(cfg.name, root, missing, None)) from None
    train, test = (_torchvision_split(cls, cfg, train=t) for t in (True, False))
    return train, test, {"name": cfg.name, "root": str(root)}


def expected_files(name: str, root: Path) -> list[Path]:
    """The files torchvision's ``name`` dataset reads under ``root`` (both splits)."""
    cls = getattr(tvd, name)
    if issubclass(cls, tvd.MNIST):
        raw = root / name / "raw"
        return [raw / Path(f).name.removesuffix(".gz") for f, _ in cls.resources]
    if name == "SVHN":
        return [root / cls.split_list[s][1] for s in ("train", "test")]
    files = [f for f, _ in cls.train_list + cls.test_list]  # CIFAR10, CIFAR100, STL10
    if hasattr(cls, "meta"):  # CIFAR's class names
        files.append(cls.meta["filename"])
    return [root / cls.base_folder / f for f in files]


def _mnist_legacy_exists(name: str, root: Path) -> bool:
    """Old torchvision releases cached MNIST as processed/{training,test}.pt; those still load."""
    processed = root / name / "processed"
    return all((processed / f).exists() for f in ("training.pt", "test.pt"))


def _missing_message(name: str, root: Path, missing: list[Path], error: str | None) -> str:
    listing = "\n  ".join(str(p) for p in missing)
    cause = f"could not load {name} from {root} ({error})" if error else (
        f"{name} is not under {root}; missing:\n  {listing}")
    return (f"{cause}\nEither set ingest.download: true on a machine with network access, or place "
            f"the dataset's files there (torchvision layout, e.g. {missing[0]}).")


def _torchvision_split(cls: type, cfg: SourceConfig, train: bool) -> ImageSet:
    kwargs = ({"split": "train" if train else "test"} if cfg.name in _SPLIT_ARGUMENT
              else {"train": train})
    root = Path(cfg.root)
    try:
        ds = cls(str(root), download=cfg.download, **kwargs)
    except (RuntimeError, OSError) as e:  # not found, checksum mismatch, or download failed
        missing = expected_files(cfg.name, root)
        raise FileNotFoundError(_missing_message(cfg.name, root, missing, str(e))) from None
    return _torchvision_to_imageset(ds, TORCHVISION_LAYOUTS[cfg.name])


def _torchvision_to_imageset(ds: Any, layout: str) -> ImageSet:
    """Reuse the dataset's in-memory array (no per-image PIL round trip)."""
    images = torch.as_tensor(np.ascontiguousarray(ds.data), dtype=torch.uint8)
    if layout == "NHW":
        images = images.unsqueeze(1)
    elif layout == "NHWC":
        images = images.permute(0, 3, 1, 2)
    labels = getattr(ds, "targets", None)
    labels = ds.labels if labels is None else labels
    classes = getattr(ds, "classes", None) or [str(d) for d in range(10)]  # SVHN: digits
    return ImageSet(images.contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.long),
                    tuple(classes))


# --- image folders: scanning ----------------------------------------------------------------------

@dataclass
class _Scan:
    """Image files per split and class, and what was passed over on the way."""

    files: dict[str, dict[str, list[Path]]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    hidden: int = 0


def _split_folders(root: Path) -> dict[str, Path]:
    """``root/{train,test}/<class>`` when root holds only train (and test), else ``root/<class>``.
    (A dataset whose only classes are called "train" and "test" would be misread: rename them.)"""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist; set ingest.root to a folder "
                                "laid out as <root>/<class>/<image> or "
                                "<root>/train/<class>/<image>")
    names = {d.name for d in _visible_dirs(root)}
    if "train" in names and names <= {"train", "test"}:
        return {split: root / split for split in ("train", "test") if split in names}
    return {"train": root}


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan_folder(root: Path) -> _Scan:
    scan = _Scan()
    for split, folder in _split_folders(root).items():
        classes = _visible_dirs(folder)
        scan.files[split] = {c.name: _image_files(c, root, scan) for c in classes}
        for p in sorted(folder.iterdir()):
            if p.name.startswith("."):
                scan.hidden += 1
            elif not p.is_dir():
                scan.skipped.append({"path": _rel(p, root), "reason": "not inside a class folder"})
    return scan


def _image_files(folder: Path, root: Path, scan: _Scan) -> list[Path]:
    """Image files under a class folder (recursively, sorted); hidden files and folders ignored."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        scan.hidden += sum(d.startswith(".") for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith("."):
                scan.hidden += 1
            elif path.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(path)
            else:
                scan.skipped.append({"path": _rel(path, root), "reason": "not an image extension"})
    return found


def _class_names(scan: _Scan, root: Path) -> tuple[str, ...]:
    """Sorted train classes; checks every class folder has images and test ⊆ train."""
    for split, classes in scan.files.items():
        for name, files in classes.items():
            if not files:
                folder = root / split / name if len(scan.files) > 1 else root / name
                kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
                raise ValueError(f"class folder {folder} holds no images ({kinds}); "
                                 "add images or remove the folder")
    train = sorted(scan.files["train"])
    if len(train) < 2:
        found = f"only {train[0]!r}" if train else "none"
        raise ValueError(f"a classifier needs at least two class folders under {root}, found "
                         f"{found}; lay images out as <root>/<class>/<image>, one folder per class")
    unknown = sorted(set(scan.files.get("test", {})) - set(train))
    if unknown:
        raise ValueError(f"test classes {unknown} under {root / 'test'} have no folder in "
                         f"{root / 'train'}; add training images for them or remove them")
    return tuple(train)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# --- image folders: decoding (runs in worker processes) -------------------------------------------

class Decoded(NamedTuple):
    array: np.ndarray | None  # H×W (grayscale-like) or H×W×3 uint8, already resized
    mode: str
    size: tuple[int, int]  # original width, height
    reason: str | None  # why the file was refused


class _File(NamedTuple):
    """One image file of the folder: its split, label and path, and its pixels once decoded."""
    split: str
    label: int
    path: Path
    decoded: Decoded | None = None


def _set_pil_limits(max_pixels: int) -> None:
    """Worker initializer: refuse decompression bombs (PIL's warning becomes an error too)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


@contextmanager
def pil_limits(max_pixels: int) -> Iterator[None]:
    """The worker limits, applied in this process and restored afterwards."""
    previous = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        try:
            _set_pil_limits(max_pixels)
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def decode_image(source: str | os.PathLike[str] | BinaryIO,
                 size: tuple[int, int] | None = None) -> Decoded:
    """Decode one image file (a path or an open binary file) the way ingest does: fully (a
    truncated file fails here), grey-like modes to H×W and the rest to H×W×3 uint8, resized to
    ``size`` = (height, width) with PIL's bilinear filter (aspect ratio not kept). A refused file
    gives ``array=None`` and the reason; apply the decompression-bomb limit with ``pil_limits``."""
    try:
        with Image.open(source) as im:
            im.load()  # decodes everything: a truncated file fails here, not later
            mode, original = im.mode, im.size
            array = _to_array(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        w, h = _header_size(source)
        return Decoded(None, "", (w, h), f"decompression bomb: {w}×{h} pixels over the limit "
                                          f"of {Image.MAX_IMAGE_PIXELS} (max_image_pixels)")
    except UnidentifiedImageError:
        return Decoded(None, "", (0, 0), "not a readable image (PIL cannot identify it)")
    except Exception as e:  # any decoder failure (OSError, SyntaxError, ...): skip, say why
        kind = "truncated" if "truncated" in str(e).lower() else "cannot decode"
        return Decoded(None, "", (0, 0), f"{kind}: {type(e).__name__}: {e}")
    if size and original != (size[1], size[0]):
        resized = Image.fromarray(array).resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.asarray(resized)
    return Decoded(array, mode, original, None)


def _header_size(source: str | os.PathLike[str] | BinaryIO) -> tuple[int, int]:
    """Width and height from the header alone (nothing is decompressed), for the refusal message."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    if hasattr(source, "seek"):
        source.seek(0)
    try:
        with Image.open(source) as im:
            return im.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _to_array(im: Image.Image) -> np.ndarray:
    """8-bit H×W for grayscale-like modes, H×W×3 RGB otherwise (see the module docstring)."""
    mode = im.mode
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    if mode in ("LA", "La"):
        return _on_white(np.asarray(im.convert("LA")))
    if mode.startswith("I"):
        wide = np.clip(np.asarray(im, dtype=np.int64), 0, 65535)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    if mode == "F":
        return np.asarray(im.convert("L"))
    if mode in ("P", "PA", "RGBA", "RGBa") or "transparency" in im.info:
        return _on_white(np.asarray(im.convert("RGBA")))
    return np.asarray(im.convert("RGB"))


def _on_white(array: np.ndarray) -> np.ndarray:
    """Composite colour+alpha (last channel) over white; a single colour channel stays 2-D."""
    alpha = array[..., -1:].astype(np.uint16)
    colour = array[..., :-1].astype(np.uint16)
    out = ((colour * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    return out[..., 0] if out.shape[-1] == 1 else out


def decode_files(paths: list[Path], size: tuple[int, int] | None, max_pixels: int,
                 workers: int = 1) -> list[Decoded]:
    """``decode_image`` on every path (in ``workers`` processes for many files), bombs refused."""
    decode = partial(decode_image, size=size)
    names = [str(p) for p in paths]
    if workers == 1 or len(names) < _POOL_MIN_FILES:
        with pil_limits(max_pixels):
            return [decode(n) for n in names]
    # Few large chunks: per-task overhead dominates when images are small.
    chunksize = max(1, math.ceil(len(names) / (workers * 4)))
    with ProcessPoolExecutor(workers, initializer=_set_pil_limits,
                             initargs=(max_pixels,)) as pool:
        return list(pool.map(decode, names, chunksize=chunksize))


def list_image_files(root: Path) -> tuple[list[Path], list[dict[str, str]]]:
    """Image files under ``root`` (recursively, sorted, hidden ones ignored) and the files passed
    over (``{"path", "reason"}``, paths relative to ``root``)."""
    scan = _Scan()
    return _image_files(root, root, scan), scan.skipped


# --- image folders: assembling --------------------------------------------------------------------

def _load_folder(cfg: SourceConfig) -> tuple[ImageSet, ImageSet | None, dict]:
    root = Path(cfg.root)
    scan = _scan_folder(root)
    classes = _class_names(scan, root)
    label = {name: i for i, name in enumerate(classes)}
    files = [_File(split, label[c], p) for split, by_class in scan.files.items()
             for c, paths in by_class.items() for p in paths]
    size = (cfg.image_size, cfg.image_size) if cfg.image_size else None
    found = decode_files([f.path for f in files], size, cfg.max_image_pixels, cfg.workers)
    decoded = [f._replace(decoded=d) for f, d in zip(files, found, strict=True)]
    scan.skipped += [{"path": _rel(f.path, root), "reason": f.decoded.reason}
                     for f in decoded if f.decoded.reason]
    good = [f for f in decoded if not f.decoded.reason]
    _check_decoded(good, scan, classes, root, cfg)
    channels = 1 if all(f.decoded.array.ndim == 2 for f in good) else 3
    sets = {split: _stack([f for f in good if f.split == split], channels, classes)
            for split in scan.files}
    details = {"root": str(root), "layout": "pre_split" if len(scan.files) > 1 else "class_folders",
               "channels": channels, "resized_to": cfg.image_size,
               "image_sizes": dict(Counter("{}x{}".format(*f.decoded.size) for f in good)),
               "modes": dict(Counter(f.decoded.mode for f in good)),
               "skipped": scan.skipped, "hidden_ignored": scan.hidden,
               "duplicates": _with_paths(duplicate_report(sets), good, root)}
    return sets["train"], sets.get("test"), details


def _with_paths(report: dict, good: list[_File], root: Path) -> dict:
    """Duplicate examples as file paths instead of positions: a person has to find the files."""
    paths: dict[str, list[str]] = {}
    for f in good:
        paths.setdefault(f.split, []).append(_rel(f.path, root))
    for split, within in report["within"].items():
        within["examples"] = [[paths[split][i] for i in group] for group in within["examples"]]
    for pair, across in report["across"].items():
        later, earlier = pair.split("↔")
        across["examples"] = [[paths[later][i], paths[earlier][j]] for i, j in across["examples"]]
    return report


def _check_decoded(good: list[_File], scan: _Scan, classes: tuple[str, ...], root: Path,
                   cfg: SourceConfig) -> None:
    """Stop on zero readable images, a class left empty by refusals, or mixed sizes."""
    if not good:
        reasons = "; ".join(f"{s['path']}: {s['reason']}" for s in scan.skipped[:5])
        raise ValueError(f"no readable images under {root} (first refusals: {reasons or 'none'})")
    present = {(f.split, classes[f.label]) for f in good}
    for split, by_class in scan.files.items():
        for name in by_class:
            if (split, name) not in present:
                raise ValueError(f"every image of class {name!r} ({split}) under {root} was "
                                 "refused; see the skipped files in the report, fix or remove them")
    sizes = Counter(f.decoded.size for f in good)
    if cfg.image_size is None and len(sizes) > 1:
        listing = ", ".join(f"{w}x{h}: {n}" for (w, h), n in sizes.most_common())
        raise ValueError(f"images under {root} differ in size (width x height: count — {listing}); "
                         "set ingest.image_size to resize them all to one square size")


def _stack(good: list[_File], channels: int, classes: tuple[str, ...]) -> ImageSet:
    """One N×C×H×W tensor; grayscale arrays are broadcast to RGB when the set has 3 channels."""
    h, w = good[0].decoded.array.shape[:2]
    out = np.empty((len(good), h, w, channels), np.uint8)
    for i, f in enumerate(good):
        array = f.decoded.array
        out[i] = array[..., None] if array.ndim == 2 else array
    labels = torch.tensor([f.label for f in good], dtype=torch.long)
    return ImageSet(torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), labels, classes)


# --- report helpers -------------------------------------------------------------------------------

def _size_histogram(*sets: ImageSet | None) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for s in [s for s in sets if s is not None]:
        h, w = s.image_size
        counts[f"{w}x{h}"] += len(s)
    return dict(counts)


def _mode_histogram(*sets: ImageSet | None) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for s in [s for s in sets if s is not None]:
        counts["L" if s.channels == 1 else "RGB"] += len(s)
    return dict(counts)
