"""Does a mirror image keep its class? The check behind `--augment auto`: a handwritten 2, a letter or a
road sign mirrored is another thing (or nothing), a cat or a patch of grass mirrored is still one. Flipping
such images in training teaches the network that a shape and its mirror are the same class, so `auto`
flips only where the training images themselves say that it is harmless.

The measurement: a standardised logistic regression on small pixels, fitted on three quarters of the training
images, scores the other quarter as they are and mirrored left to right. Where its skill above chance
(accuracy minus the largest class's share) mostly survives the mirror, the classes do not hang on the
direction a shape faces, and flips are kept; where the skill collapses, they are left out. Only training
images are looked at (never validation or test), and NumPy + scikit-learn do it: no TensorFlow."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

KEEP_SHARE = 0.6  # flips are kept when at least this share of the skill above chance survives the mirror
MIN_SKILL = 0.05  # below this skill the regression has learned too little to tell: flips are kept (Keras's usual)
MAX_IMAGES = 4000  # at most this many training images are looked at (a stratified sample)


@dataclass(frozen=True)
class FlipCheck:
    """What the check measured on the held-back quarter of the training images, and its verdict."""

    images: int  # training images the check used (fit + scored)
    accuracy: float  # the pixel regression on the held-back images as they are
    mirrored_accuracy: float  # ... and on the same images mirrored left to right
    chance: float  # the largest class's share of the held-back images

    @property
    def kept_share(self) -> float | None:
        """The share of the skill above chance that survives the mirror (None when there was too little)."""
        skill = self.accuracy - self.chance
        return None if skill < MIN_SKILL else (self.mirrored_accuracy - self.chance) / skill

    @property
    def flips(self) -> bool:
        """True: mirrored images keep their class (or too little was learned to tell), so training flips them."""
        return self.kept_share is None or self.kept_share >= KEEP_SHARE

    def to_dict(self) -> dict:
        return {**asdict(self), "flips": self.flips,
                "kept_share": None if self.kept_share is None else round(self.kept_share, 4)}

    def reason(self) -> str:
        """One line for the log and the report."""
        figures = f"pixel regression {self.accuracy:.2f} on held-back training images, {self.mirrored_accuracy:.2f} " \
                  f"mirrored, chance {self.chance:.2f}"
        if self.kept_share is None:
            return f"flips kept: too little to tell ({figures})"
        if self.flips:
            return f"flips kept: mirrored images keep their class ({figures})"
        return f"no flips: mirrored images lose their class, as glyphs do ({figures})"


def check_flips(pixels: np.ndarray, y: np.ndarray, seed: int) -> FlipCheck:
    """pixels: [n, height, width, channels] training images (small: the pixel baseline's size); y: their labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y)
    if len(y) > MAX_IMAGES:
        keep, _ = _split(np.arange(len(y)), y, MAX_IMAGES, seed)
        pixels, y = pixels[keep], y[keep]
    fit_rows, held = _split(np.arange(len(y)), y, len(y) - max(1, len(y) // 4), seed)
    flat = pixels.reshape(len(pixels), -1).astype(np.float32)
    mirrored = pixels[:, :, ::-1, :].reshape(len(pixels), -1).astype(np.float32)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.1))
    model.fit(flat[fit_rows], y[fit_rows])
    accuracy = float(np.mean(model.predict(flat[held]) == y[held]))
    mirrored_accuracy = float(np.mean(model.predict(mirrored[held]) == y[held]))
    _, counts = np.unique(y[held], return_counts=True)
    return FlipCheck(len(y), round(accuracy, 4), round(mirrored_accuracy, 4), round(float(counts.max() / len(held)), 4))


def _split(rows: np.ndarray, y: np.ndarray, first: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`first` rows and the rest, stratified by class where every class can sit on both sides, else at random."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(rows, train_size=first, random_state=seed, stratify=y)
    except ValueError:  # a class with one image, or fewer rows on a side than classes
        return train_test_split(rows, train_size=first, random_state=seed)
