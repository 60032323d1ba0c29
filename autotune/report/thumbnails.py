"""report_images/: thumbnails of the most confidently misclassified test images, written into an image
bundle by the pipeline and embedded in report.html; the page reads only files inside that folder."""
from __future__ import annotations

from pathlib import Path

REPORT_IMAGES = "report_images"
MAX_MISCLASSIFIED = 12
THUMBNAIL = 64


def write_misclassified(bundle: Path, paths: list[str], y_true: list[str], probabilities, labels: list[str],
                        limit: int = MAX_MISCLASSIFIED) -> dict:
    """Thumbnails (PNG, at most 64 px a side) of the most confidently misclassified test images, written to
    report_images/ in the bundle, and their list for report.json."""
    import numpy as np
    from PIL import Image, ImageOps

    probabilities = np.asarray(probabilities)
    predicted = probabilities.argmax(axis=1)
    wrong = [i for i in range(len(paths)) if labels[predicted[i]] != y_true[i]]
    wrong.sort(key=lambda i: (-float(probabilities[i, predicted[i]]), i))
    shown = []
    for i in wrong:
        if len(shown) == limit:
            break
        try:
            with Image.open(paths[i]) as image:
                image = ImageOps.exif_transpose(image).convert("RGB")
        except OSError:
            continue
        scale = THUMBNAIL / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.NEAREST if scale > 1 else Image.LANCZOS)
        folder = bundle / REPORT_IMAGES
        folder.mkdir(exist_ok=True)
        name = f"{REPORT_IMAGES}/{len(shown):02d}.png"
        image.save(bundle / name, format="PNG", optimize=True)
        shown.append({"file": name, "source": "/".join(Path(paths[i]).parts[-2:]), "true": y_true[i],
                      "predicted": labels[predicted[i]], "confidence": round(float(probabilities[i, predicted[i]]), 4)})
    return {"total": len(wrong), "shown": shown}


def report_image(bundle: Path | None, name) -> Path | None:
    """A thumbnail report.json names, only if it is a file inside the bundle's report_images/: an edited
    report.json must not make `autotune report -o` copy /etc/passwd or ../secrets into the page."""
    if bundle is None or not isinstance(name, str):
        return None
    folder = (Path(bundle) / REPORT_IMAGES).resolve()
    path = (Path(bundle) / name).resolve()
    return path if path.is_relative_to(folder) and path.is_file() else None
