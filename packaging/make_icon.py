"""Draw the RadiView app icon with Pillow: a chest film (two lung fields, spine, ribs) on a dark
rounded square, with a small warm "heat-map" accent for the AI second reader.

    python packaging/make_icon.py                    # writes resources/icons/radiview.{png,ico}
    python packaging/make_icon.py --hicolor DIR      # also DIR/<n>x<n>/apps/radiview.png (Linux)
    python packaging/make_icon.py --icns FILE        # also a macOS .icns (used by the spec on darwin)

Drawn once at 1024 px and downsampled, so every size is anti-aliased.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]
ICONS = REPO / "resources" / "icons"
CANVAS = 1024
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256)

BACKGROUND = (22, 30, 42, 255)  # dark slate: a light box with the lights off
FILM = (232, 238, 245)
ACCENT = (255, 140, 40)  # warm Grad-CAM orange


def _lung(box: tuple[int, int, int, int], mirror: bool) -> Image.Image:
    """One lung field as a soft grey mask: an ellipse with its medial edge cut straight."""
    mask = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse(box, fill=255)
    x0, y0, x1, y1 = box
    width = x1 - x0
    # Cut the medial side (where the heart and mediastinum sit) and round the apex.
    if mirror:
        draw.rectangle((x0, y0 + int(0.35 * (y1 - y0)), x0 + int(0.22 * width), y1), fill=0)
    else:
        draw.rectangle((x1 - int(0.22 * width), y0 + int(0.35 * (y1 - y0)), x1, y1), fill=0)
    return mask.filter(ImageFilter.GaussianBlur(10))


def draw_icon() -> Image.Image:
    """The icon at CANVAS px, RGBA."""
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    rounded = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(rounded).rounded_rectangle((24, 24, CANVAS - 24, CANVAS - 24), radius=190, fill=255)
    image.paste(Image.new("RGBA", (CANVAS, CANVAS), BACKGROUND), mask=rounded)

    # Lung fields: bright film where the air is, as on a printed (inverted) chest film.
    lungs = ImageChops.lighter(
        _lung((190, 210, 500, 830), mirror=False), _lung((524, 210, 834, 830), mirror=True)
    )
    lungs = lungs.point(lambda v: int(v * 0.85))
    image.paste(Image.new("RGBA", (CANVAS, CANVAS), (*FILM, 255)), mask=lungs)

    draw = ImageDraw.Draw(image)
    # Spine and ribs, drawn in the background colour over the film so they read as shadows.
    draw.rounded_rectangle((488, 150, 536, 880), radius=24, fill=(90, 104, 122, 255))
    for i in range(5):
        y = 330 + i * 95
        draw.arc((200, y - 90, 480, y + 110), start=200, end=340, fill=(*BACKGROUND[:3], 200), width=18)
        draw.arc((544, y - 90, 824, y + 110), start=200, end=340, fill=(*BACKGROUND[:3], 200), width=18)

    # Accent: a glowing "hot spot" on the right lower field, as a Grad-CAM overlay would show.
    glow = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(glow).ellipse((600, 560, 800, 760), fill=230)
    glow = glow.filter(ImageFilter.GaussianBlur(40))
    image.paste(Image.new("RGBA", (CANVAS, CANVAS), (*ACCENT, 255)), mask=ImageChops.multiply(glow, rounded))
    draw.ellipse((668, 628, 732, 692), fill=(255, 214, 120, 255))
    return image


def write_icons(out_dir: Path = ICONS) -> tuple[Path, Path]:
    """resources/icons/radiview.png (256 px) and radiview.ico (16–256 px)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    big = draw_icon()
    png = out_dir / "radiview.png"
    ico = out_dir / "radiview.ico"
    big.resize((256, 256), Image.LANCZOS).save(png, optimize=True)
    big.resize((256, 256), Image.LANCZOS).save(ico, sizes=ICO_SIZES)
    return png, ico


def write_hicolor(source: Path, root: Path) -> list[Path]:
    """freedesktop hicolor theme sizes from the 256 px PNG: ROOT/<n>x<n>/apps/radiview.png."""
    base = Image.open(source).convert("RGBA")
    written = []
    for size in HICOLOR_SIZES:
        target = root / f"{size}x{size}" / "apps" / "radiview.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        base.resize((size, size), Image.LANCZOS).save(target, optimize=True)
        written.append(target)
    return written


def write_icns(source: Path, target: Path) -> Path:
    """A macOS .icns from the 256 px PNG (Pillow writes the PNG-compressed ICNS variant)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.open(source).convert("RGBA").save(target, format="ICNS")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hicolor", type=Path, help="write hicolor PNG sizes under this folder")
    parser.add_argument("--icns", type=Path, help="write a macOS .icns to this file")
    parser.add_argument("--no-redraw", action="store_true", help="reuse the committed radiview.png")
    args = parser.parse_args(argv)
    png = ICONS / "radiview.png"
    if not args.no_redraw or not png.exists():
        png, ico = write_icons()
        print(f"wrote {png} ({png.stat().st_size} B) and {ico} ({ico.stat().st_size} B)")
    if args.hicolor:
        print(f"wrote {len(write_hicolor(png, args.hicolor))} hicolor sizes under {args.hicolor}")
    if args.icns:
        print(f"wrote {write_icns(png, args.icns)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
