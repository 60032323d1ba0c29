"""--augment auto's check (vision.flips): a mirrored glyph is another class, a mirrored photograph patch is not.
Real images only: scikit-learn's handwritten digits and its two sample photographs, both shipped with it."""
import numpy as np
import pytest

from autotune.vision.flips import KEEP_SHARE, check_flips


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.repeat(digits.images[..., None] * 255 / 16, 3, axis=-1), digits.target


def _photo_patches():
    """16×16 patches (every other pixel of 32×32 tiles) of the two sample photographs: class = photograph."""
    from sklearn.datasets import load_sample_images

    x, y = [], []
    for label, image in enumerate(load_sample_images().images):
        for r in range(0, image.shape[0] - 32, 32):
            for c in range(0, image.shape[1] - 32, 32):
                x.append(image[r:r + 32:2, c:c + 32:2])
                y.append(label)
    return np.stack(x).astype(np.float32), np.array(y)


@pytest.mark.parametrize("seed", [0, 1])
def test_mirrored_digits_lose_their_class_so_no_flips(seed):
    x, y = _digits()
    check = check_flips(x, y, seed)
    assert not check.flips
    assert check.accuracy > 0.9 and check.mirrored_accuracy < 0.6  # the regression reads digits, not mirrors
    assert check.kept_share < KEEP_SHARE and "no flips" in check.reason()


@pytest.mark.parametrize("seed", [0, 1])
def test_mirrored_photograph_patches_keep_their_class_so_flips(seed):
    x, y = _photo_patches()
    check = check_flips(x, y, seed)
    assert check.flips and check.accuracy - check.chance > 0.15  # it did learn something, and it survives
    assert check.kept_share >= KEEP_SHARE and check.reason().startswith("flips kept: mirrored")


def test_labels_the_pixels_do_not_predict_keep_flips_as_too_little_to_tell():
    x, _ = _digits()
    y = np.random.default_rng(0).integers(0, 2, len(x))  # shuffled labels: nothing to learn
    check = check_flips(x, y, 0)
    assert check.flips and check.kept_share is None and "too little to tell" in check.reason()


def test_a_large_set_is_sampled_and_one_image_classes_do_not_break_the_split():
    x, y = _digits()
    big_x, big_y = np.concatenate([x, x, x]), np.concatenate([y, y, y])
    big_y[0] = 99  # a class with one image: no stratified split can hold it on both sides
    check = check_flips(big_x, big_y, 0)
    assert check.images == 4000 and not check.flips
    assert check.to_dict()["kept_share"] == round(check.kept_share, 4)
