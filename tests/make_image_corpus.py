#!/usr/bin/python3
"""make_image_corpus.py - writes tests/data/images/: small hostile and odd
image files for the image loader (face/image.c), each with the outcome
tests/test_image.c expects, listed in tests/data/images/MANIFEST.txt.

Kinds of file: empty, text named .jpg, truncated JPEG / PNG / PNM, broken
zlib data, headers that declare huge or zero sizes, 1x1 and 1-pixel-wide
images, grey / grey+alpha / palette+tRNS / RGBA / 16-bit PNG, Adam7
interlacing, grey, 4:2:0, progressive and CMYK JPEG, every EXIF
orientation (both TIFF byte orders), corrupt EXIF blocks, BMP, TGA
(plain and RLE with alpha), P5/P6 PNM with 8-bit, 16-bit and odd maxval,
and formats facet refuses (GIF, WebP, TIFF, ASCII PNM, CMYK JPEG without
an Adobe marker, 12-bit and arithmetic-coded JPEG headers).

MANIFEST.txt has one line per file:
    NAME  ok WxH  REF TOL      decodes to REF (a P6 PPM under ref/) with
                               every sample within TOL
    NAME  E_CODE  [WORD]       fails with that status; facet_error() holds
                               the file's path and WORD when given
Everything after '#' is a note for people.

References: exact values from numpy for the lossless formats (alpha on
white, 16 -> 8 bits and maxval scaling as image.h defines them); for
JPEG, the pixels Pillow's decoder (libjpeg-turbo) gives, with its EXIF
transposition, because two JPEG decoders differ by a few levels. TOL is
0 for lossless files; for JPEG it is the measured stb / libjpeg-turbo
difference of that file rounded up (stb computes it with
tools/fixtures/stb_decode.c, when it is built, as a cross-check; the
test measures it again).

No photo is used: faces cannot be drawn here, so the detection tests,
not this corpus, hold the "no face" and "many faces" cases; gradient.png
is a face-free image they may use.

Usage (from the repository root; Debian python3-pil and python3-numpy):
  /usr/bin/python3 tests/make_image_corpus.py [outdir]
outdir defaults to tests/data/images. The output is deterministic for a
given Pillow / libjpeg-turbo; the committed files are the reference.

ref: PNG (ISO/IEC 15948): chunks, IHDR, PLTE, tRNS, eXIf, Adam7
ref: Exif 2.32 4.5-4.6 and TIFF 6.0 section 2 (APP1, IFD0, tag 0x0112)
ref: ITU-T T.81 B.1.1 (JPEG markers), Adobe TN 5116 (APP14)

Limitations:
- 12-bit and arithmetic-coded JPEGs are made by patching the frame marker
  of an ordinary file (Pillow cannot write them), so they test only the
  header check, not a real file of that kind.
"""

import io
import os
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps

PNG_SIG = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------
# Pixel patterns (all arrays are H x W x C, uint8 unless said)

def pattern(w, h, seed):
    """Smooth ramps plus seeded noise: every level occurs, exactness
    matters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255) // max(w - 1, 1)
    g = (y * 255) // max(h - 1, 1)
    b = rng.integers(0, 256, (h, w))
    return np.stack([r, g, b], axis=2).astype(np.uint8)


def blocks(w, h, bw, bh, colours):
    """Flat bw x bh blocks cycling through `colours` (JPEG-friendly)."""
    out = np.zeros((h, w, 3), np.uint8)
    k = 0
    for by in range(0, h, bh):
        for bx in range(0, w, bw):
            out[by:by + bh, bx:bx + bw] = colours[k % len(colours)]
            k += 1
    return out


def quadrants(w, h):
    """Four flat quadrants: red, green / blue, yellow. Each of the eight
    EXIF transforms moves them to a distinct arrangement."""
    out = np.zeros((h, w, 3), np.uint8)
    out[:h // 2, :w // 2] = (230, 20, 20)
    out[:h // 2, w // 2:] = (20, 200, 20)
    out[h // 2:, :w // 2] = (20, 20, 230)
    out[h // 2:, w // 2:] = (240, 230, 20)
    return out


PALETTE = [(0, 0, 0), (255, 255, 255), (200, 30, 30), (30, 200, 30),
           (30, 30, 200), (250, 200, 0), (0, 200, 220), (128, 128, 128)]


# ---------------------------------------------------------------------
# Encoders written here (for full control of the bytes)

def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def png_rows(arr, depth):
    """Raw scanlines (filter byte 0 + samples) of an H x W x C array."""
    h, w, c = arr.shape
    out = b""
    for row in arr:
        if depth == 16:
            data = row.astype(">u2").tobytes()
        elif depth == 8:
            data = row.astype(np.uint8).tobytes()
        else:                                   # 1/2/4-bit, one channel
            per = 8 // depth
            vals = list(row[:, 0]) + [0] * (-w % per)
            data = bytes(
                sum(int(vals[i + k]) << (8 - depth * (k + 1))
                    for k in range(per))
                for i in range(0, len(vals), per))
        out += b"\x00" + data
    return out


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(arr, depth, ctype, plte=None, trns=None, exif=None,
        interlace=False):
    """A PNG of arr (H x W x C samples, C matching colour type `ctype`)."""
    h, w = arr.shape[:2]
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = arr[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += png_rows(sub, depth)
    else:
        raw = png_rows(arr, depth)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0,
                       1 if interlace else 0)
    out = PNG_SIG + png_chunk(b"IHDR", ihdr)
    if plte is not None:
        out += png_chunk(b"PLTE", b"".join(bytes(c) for c in plte))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    if exif is not None:
        out += png_chunk(b"eXIf", exif)
    out += png_chunk(b"IDAT", zlib.compress(raw, 9))
    return out + png_chunk(b"IEND", b"")


def pnm(arr, maxval, magic=None, comment=None):
    """Binary P5 (one channel) or P6 (three) with the given maxval."""
    h, w, c = arr.shape
    magic = magic or (b"P5" if c == 1 else b"P6")
    head = magic + b"\n"
    if comment:
        head += b"# " + comment + b"\n"
    head += b"%d %d\n%d\n" % (w, h, maxval)
    data = arr.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    return head + data


def ppm_ref(arr):
    h, w, _ = arr.shape
    return b"P6\n%d %d\n255\n" % (w, h) + arr.astype(np.uint8).tobytes()


def tiff_exif(orientation, big_endian=False, ifd_offset=8, count=None,
              next_ifd=0, extra_tags=True, value_type=3, ifd_pointer=None):
    """A TIFF structure (the body of an Exif block) whose IFD0 holds Make,
    Orientation and Software, in the given byte order. ifd_pointer
    overrides the IFD0 offset written in the header (a broken file)."""
    o = ">" if big_endian else "<"
    make, soft = b"facet\x00", b"corpus\x00"
    entries = []
    n = 3 if extra_tags else 1
    data_at = ifd_offset + 2 + 12 * n + 4       # strings after the IFD
    if extra_tags:
        entries.append(struct.pack(o + "HHII", 0x010F, 2, len(make),
                                   data_at))
    if value_type == 3:
        value = struct.pack(o + "H", orientation) + b"\x00\x00"
    else:
        value = struct.pack(o + "I", orientation)
    entries.append(struct.pack(o + "HHI", 0x0112, value_type, 1) + value)
    if extra_tags:
        entries.append(struct.pack(o + "HHII", 0x0131, 2, len(soft),
                                   data_at + len(make)))
    head = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + \
        struct.pack(o + "I", ifd_offset if ifd_pointer is None
                    else ifd_pointer)
    ifd = (struct.pack(o + "H", n if count is None else count) +
           b"".join(entries) + struct.pack(o + "I", next_ifd))
    pad = b"\x00" * max(0, ifd_offset - 8)
    return head + pad + ifd + make + soft


# ---------------------------------------------------------------------
# JPEG helpers (Pillow's encoder) and byte surgery

def jpeg(arr, quality=92, subsampling=0, **kw):
    mode = {1: "L", 3: "RGB", 4: "CMYK"}[arr.shape[2]]
    img = Image.fromarray(arr[:, :, 0] if mode == "L" else arr, mode)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=subsampling, **kw)
    return buf.getvalue()


def jpeg_segments(data):
    """(marker, offset of the 0xff, total length) of each header segment,
    up to and including the first SOS."""
    segs, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF
        m = data[pos + 1]
        ln = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segs.append((m, pos, 2 + ln))
        if m == 0xDA:
            break
        pos += 2 + ln
    return segs


def jpeg_drop(data, marker):
    out = data
    for m, pos, ln in reversed(jpeg_segments(data)):
        if m == marker:
            out = out[:pos] + out[pos + ln:]
    return out


def jpeg_patch_sof(data, marker=None, bits=None, w=None, h=None):
    out = bytearray(data)
    for m, pos, ln in jpeg_segments(data):
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            if marker is not None:
                out[pos + 1] = marker
            if bits is not None:
                out[pos + 4] = bits
            if h is not None:
                out[pos + 5:pos + 7] = struct.pack(">H", h)
            if w is not None:
                out[pos + 7:pos + 9] = struct.pack(">H", w)
            return bytes(out)
    raise ValueError("no SOF")


def pil_rgb(data, transpose=True):
    """What libjpeg-turbo (through Pillow) decodes, upright when asked."""
    with warnings.catch_warnings():
        # Pillow warns about the deliberately broken EXIF blocks.
        warnings.simplefilter("ignore", UserWarning)
        img = Image.open(io.BytesIO(data))
        img.load()
    if transpose:
        img = ImageOps.exif_transpose(img)
    return np.asarray(img.convert("RGB"))


# ---------------------------------------------------------------------
# Expected values as image.h defines them (float, one rounding)

def over_white(v, a, vmax):
    """round((v a + vmax (vmax - a)) / vmax) on the vmax scale, then to 8
    bits: round(x / (vmax / 255))."""
    v = v.astype(np.float64)
    a = a.astype(np.float64)
    x = (v * a + vmax * (vmax - a)) / vmax
    return np.floor(x * 255.0 / vmax + 0.5).astype(np.uint8)


def scale(v, vmax):
    return np.floor(v.astype(np.float64) * 255.0 / vmax + 0.5
                    ).astype(np.uint8)


def grey3(g):
    return np.repeat(g[:, :, None], 3, axis=2)


# ---------------------------------------------------------------------

class Corpus:
    def __init__(self, outdir):
        self.dir = outdir
        self.lines = []
        self.refs = {}
        os.makedirs(os.path.join(outdir, "ref"), exist_ok=True)

    def write(self, name, data):
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)

    def ok(self, name, data, ref, tol, note):
        """A file that must decode to `ref` (H x W x 3) within tol."""
        self.write(name, data)
        blob = ppm_ref(ref)
        rname = self.refs.get(blob)
        if rname is None:
            rname = "ref/" + name.rsplit(".", 1)[0] + ".ppm"
            if name.rsplit(".", 1)[0] in {r[4:-4] for r in
                                          self.refs.values()}:
                rname = "ref/" + name.replace(".", "_") + ".ppm"
            self.refs[blob] = rname
            self.write(rname, blob)
        h, w = ref.shape[:2]
        self.lines.append((name, "ok %dx%d" % (w, h), "%s %d" % (rname, tol),
                           note))

    def err(self, name, data, code, word, note):
        self.write(name, data)
        self.lines.append((name, code, word or "", note))

    def manifest(self):
        out = ["# tests/data/images: hostile and odd image files and what "
               "face_image_load must",
               "# give for each; written by tests/make_image_corpus.py, "
               "checked by",
               "# tests/test_image.c. Columns:",
               "#   NAME  ok WxH  REF TOL   decodes to REF within TOL per "
               "sample",
               "#   NAME  E_CODE  [WORD]    fails with that status; the "
               "message names",
               "#                            the file and contains WORD",
               "# TOL is 0 for lossless files; for JPEG, REF is what "
               "libjpeg-turbo decodes",
               "# and TOL covers the stb / libjpeg-turbo difference "
               "(IDCT, upsampling).",
               ""]
        for name, outcome, rest, note in self.lines:
            cols = "%-24s %-16s %-28s" % (name, outcome, rest)
            out.append(("%s # %s" % (cols, note)).rstrip())
        text = "\n".join(out) + "\n"
        with open(os.path.join(self.dir, "MANIFEST.txt"), "w") as f:
            f.write(text)


def jpeg_tol(data):
    """The tolerance for a JPEG: stb's largest difference from
    libjpeg-turbo on the stored (unrotated) pixels, plus 1, at least 2,
    when tools/fixtures/stb_decode is built (build/stb_decode); else 6."""
    exe = os.path.join("build", "stb_decode")
    if not os.path.exists(exe):
        return 6
    ref = pil_rgb(data, transpose=False)
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(data)
        f.flush()
        ppm = subprocess.run([exe, f.name], check=True,
                             capture_output=True).stdout
    # The PPM header is three lines: magic, size, maxval.
    body = ppm.split(b"\n", 3)[3]
    h, w = ref.shape[:2]
    got = np.frombuffer(body, np.uint8)
    d = np.abs(got.reshape(h, w, 3).astype(int) - ref.astype(int)).max()
    return max(2, int(d) + 1)


def build(c):
    # Errors before any decoding.
    c.err("empty.jpg", b"", "E_FORMAT", "empty", "zero-byte file")
    c.err("text.jpg", b"This is not a JPEG, only text named like one.\n",
          "E_FORMAT", "not a supported image", "text named .jpg")

    base = pattern(24, 20, 1)
    photo = blocks(48, 32, 16, 16, PALETTE)
    photo_jpg = jpeg(photo, subsampling=2)          # 4:2:0, the usual
    base_png = png(base, 8, 2)

    # Truncation and corruption.
    noisy = jpeg(pattern(64, 48, 4), subsampling=2)
    scan = [p for m, p, _ in jpeg_segments(noisy) if m == 0xDA][0]
    assert scan < len(noisy) * 6 // 10
    c.err("truncated.jpg", noisy[:len(noisy) * 6 // 10], "E_CORRUPT",
          "end marker", "60% of a JPEG, cut inside the image data")
    sof = [p for m, p, _ in jpeg_segments(photo_jpg) if m == 0xC0][0]
    c.err("truncated_header.jpg", photo_jpg[:sof - 3], "E_CORRUPT",
          "truncated", "ends inside the header segments")
    c.err("truncated.png", base_png[:len(base_png) * 6 // 10], "E_CORRUPT",
          "", "60% of a PNG: image data cut")
    c.err("truncated_sig.png", PNG_SIG[:5], "E_CORRUPT", "truncated",
          "5 bytes of the PNG signature")
    bad = bytearray(base_png)
    idat = bad.find(b"IDAT") + 4
    rng = np.random.default_rng(7)
    bad[idat:idat + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    c.err("bad_zlib.png", bytes(bad), "E_CORRUPT", "",
          "IDAT bytes overwritten with noise")

    # Declared sizes: huge and zero.
    tiny = zlib.compress(b"\x00" * 4)
    c.err("huge.png", PNG_SIG + png_chunk(b"IHDR", struct.pack(
        ">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) +
        png_chunk(b"IDAT", tiny) + png_chunk(b"IEND", b""),
        "E_TOO_LARGE", "100000x100000", "PNG header: 100000 x 100000")
    c.err("huge.jpg", jpeg_patch_sof(photo_jpg, w=65535, h=65535),
          "E_TOO_LARGE", "65535x65535", "JPEG frame header: 65535 x 65535")
    bmp_head = (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) +
                struct.pack("<IiiHHIIiiII", 40, 30000, 30000, 1, 24, 0, 0,
                            2835, 2835, 0, 0))
    c.err("huge.bmp", bmp_head, "E_TOO_LARGE", "30000x30000",
          "BMP header: 30000 x 30000, no pixel data")
    c.err("huge.pgm", b"P5\n100000 100000\n255\n" + b"\x00" * 16,
          "E_TOO_LARGE", "100000x100000", "PGM header: 100000 x 100000")
    c.err("zero_width.png", PNG_SIG + png_chunk(b"IHDR", struct.pack(
        ">IIBBBBB", 0, 16, 8, 2, 0, 0, 0)) + png_chunk(b"IDAT", tiny) +
        png_chunk(b"IEND", b""), "E_CORRUPT", "zero size",
        "PNG header: 0 x 16")
    c.err("overflow.ppm", b"P6\n99999999999999999999 1\n255\n\x00\x00\x00",
          "E_CORRUPT", "width", "width does not fit in 32 bits")
    c.err("truncated.ppm", pnm(base, 255)[:-700], "E_CORRUPT", "truncated",
          "P6 with 700 pixel bytes missing")

    # Formats facet refuses.
    c.err("ascii.ppm", b"P3\n2 1\n255\n255 0 0 0 255 0\n", "E_UNSUPPORTED",
          "P3", "ASCII PPM")
    buf = io.BytesIO()
    Image.fromarray(photo).convert("P").save(buf, "GIF")
    c.err("image.gif", buf.getvalue(), "E_UNSUPPORTED", "GIF", "GIF")
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "WEBP", lossless=True)
    c.err("image.webp", buf.getvalue(), "E_UNSUPPORTED", "WebP", "WebP")
    buf = io.BytesIO()
    Image.fromarray(base).save(buf, "TIFF")
    c.err("image.tif", buf.getvalue(), "E_UNSUPPORTED", "TIFF", "TIFF")

    # CMYK: with the Adobe marker (Pillow writes one, stored inverted) it
    # decodes; without it the colours are ambiguous and it is refused.
    y, x = np.mgrid[0:32, 0:48]
    cmyk = np.zeros((32, 48, 4), np.uint8)
    cmyk[..., 0] = (x // 16) * 100
    cmyk[..., 1] = (y // 16) * 150
    cmyk[..., 2] = ((x // 16 + y // 16) % 2) * 200
    cmyk[..., 3] = (x // 16) * 60
    cmyk_jpg = jpeg(cmyk, quality=95)
    ref = pil_rgb(cmyk_jpg)
    c.ok("cmyk.jpg", cmyk_jpg, ref, jpeg_tol(cmyk_jpg),
         "CMYK JPEG, Adobe APP14 transform 0")
    c.err("cmyk_noadobe.jpg", jpeg_drop(cmyk_jpg, 0xEE), "E_UNSUPPORTED",
          "Adobe", "CMYK JPEG, APP14 removed")
    c.err("sof_12bit.jpg", jpeg_patch_sof(photo_jpg, bits=12),
          "E_UNSUPPORTED", "12-bit", "frame header says 12-bit samples")
    c.err("sof_arith.jpg", jpeg_patch_sof(photo_jpg, marker=0xC9),
          "E_UNSUPPORTED", "arithmetic", "SOF9 (arithmetic coding) marker")

    # Tiny and thin images.
    one = np.array([[[12, 200, 99]]], np.uint8)
    c.ok("one.png", png(one, 8, 2), one, 0, "1 x 1 RGB PNG")
    one_jpg = jpeg(one)
    c.ok("one.jpg", one_jpg, pil_rgb(one_jpg), jpeg_tol(one_jpg),
         "1 x 1 JPEG")
    thin = pattern(1, 37, 2)
    c.ok("thin.png", png(thin, 8, 2), thin, 0, "1 x 37 PNG")

    # PNG colour types and depths.
    g = base[:, :, 2]
    c.ok("gray.png", png(g[:, :, None], 8, 0), grey3(g), 0,
         "8-bit grey PNG")
    rng = np.random.default_rng(3)
    g16 = rng.integers(0, 65536, (20, 24, 1)).astype(np.uint16)
    c.ok("gray16.png", png(g16, 16, 0), grey3(scale(g16[:, :, 0], 65535)),
         0, "16-bit grey PNG: round(v / 257)")
    a = ((np.arange(24)[None, :] * 11 + np.arange(20)[:, None] * 3)
         % 256).astype(np.uint8)
    ga = np.stack([g, a], axis=2)
    c.ok("graya.png", png(ga, 8, 4), grey3(over_white(g, a, 255)), 0,
         "grey + alpha PNG on white")
    rgb16 = rng.integers(0, 65536, (20, 24, 3)).astype(np.uint16)
    c.ok("rgb16.png", png(rgb16, 16, 2), scale(rgb16, 65535), 0,
         "16-bit RGB PNG")
    rgba = np.concatenate([base, a[:, :, None]], axis=2)
    c.ok("rgba.png", png(rgba, 8, 6),
         over_white(base, np.repeat(a[:, :, None], 3, 2), 255), 0,
         "RGBA PNG on white")
    rgba16 = rng.integers(0, 65536, (20, 24, 4)).astype(np.uint16)
    rgba16[0, :4, 3] = [0, 1, 65534, 65535]       # alpha extremes
    c.ok("rgba16.png", png(rgba16, 16, 6),
         over_white(rgba16[..., :3], np.repeat(rgba16[..., 3:], 3, 2),
                    65535), 0, "16-bit RGBA PNG on white")
    idx = (np.arange(24)[None, :] // 3 + np.arange(20)[:, None] // 5) % 8
    alpha = np.array([255, 0, 128, 255, 64, 255, 200, 255], np.uint8)
    pal = np.array(PALETTE, np.uint8)
    c.ok("palette_trns.png", png(idx[:, :, None], 4, 3, plte=PALETTE,
                                 trns=bytes(alpha)),
         over_white(pal[idx], np.repeat(alpha[idx][:, :, None], 3, 2), 255),
         0, "4-bit palette PNG with tRNS alpha")
    key = 77
    gk = g.copy()
    gk[5:9, 5:9] = key
    c.ok("gray_trns.png", png(gk[:, :, None], 8, 0,
                              trns=struct.pack(">H", key)),
         grey3(np.where(gk == key, 255, gk).astype(np.uint8)), 0,
         "grey PNG with a tRNS key colour (key -> white)")
    c.ok("interlaced.png", png(base, 8, 2, interlace=True), base, 0,
         "Adam7-interlaced RGB PNG")
    grad = np.zeros((48, 64, 3), np.uint8)
    grad[..., 0] = np.linspace(0, 255, 64)[None, :]
    grad[..., 1] = np.linspace(40, 200, 48)[:, None]
    grad[..., 2] = 128
    c.ok("gradient.png", png(grad, 8, 2), grad, 0,
         "a gradient: no face (for the detection tests)")

    # JPEG kinds.
    c.ok("photo420.jpg", photo_jpg, pil_rgb(photo_jpg),
         jpeg_tol(photo_jpg), "4:2:0 JPEG, q92")
    prog = jpeg(photo, subsampling=2, progressive=True)
    c.ok("progressive.jpg", prog, pil_rgb(prog),
         jpeg_tol(prog), "progressive 4:2:0 JPEG")
    gj = jpeg(grey3(g)[:, :, :1])
    c.ok("gray.jpg", gj, pil_rgb(gj), jpeg_tol(gj),
         "one-component (grey) JPEG")
    junk = photo_jpg + bytes(range(256)) * 4
    c.ok("trailing_junk.jpg", junk, pil_rgb(photo_jpg),
         jpeg_tol(photo_jpg),
         "1 KB of junk after the end marker")

    # EXIF orientation: the stored pixels are the upright picture D put
    # through the inverse of each transform, so every file shows D.
    d = quadrants(32, 16)
    inverse = {1: lambda a: a,
               2: lambda a: a[:, ::-1],
               3: lambda a: a[::-1, ::-1],
               4: lambda a: a[::-1],
               5: lambda a: a.transpose(1, 0, 2),
               6: lambda a: np.rot90(a, 1),          # undo a cw turn
               7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
               8: lambda a: np.rot90(a, -1)}
    for k in range(1, 9):
        stored = np.ascontiguousarray(inverse[k](d))
        be = k % 2 == 1
        data = jpeg(stored, quality=95,
                    exif=b"Exif\x00\x00" + tiff_exif(k, big_endian=be))
        ref = pil_rgb(data)
        assert ref.shape == d.shape, (k, ref.shape)
        assert np.abs(ref.astype(int) - d).max() <= 8, k
        c.ok("orient%d.jpg" % k, data, ref, jpeg_tol(data),
             "EXIF orientation %d, %s TIFF" % (k, "big-endian" if be
                                               else "little-endian"))
    stored = np.ascontiguousarray(inverse[6](base))
    c.ok("orient6.png", png(stored, 8, 2, exif=tiff_exif(6)), base, 0,
         "PNG with an eXIf chunk, orientation 6")
    plain = np.ascontiguousarray(inverse[6](d))
    for name, blob, note, shown in [
            ("exif_bad_offset.jpg", tiff_exif(6, ifd_pointer=0xFFFFFF00),
             "IFD0 offset far past the block: orientation ignored", plain),
            ("exif_bad_count.jpg", tiff_exif(6, count=0xFFFF)[:24],
             "IFD0 claims 65535 entries, block ends after one", plain),
            ("exif_bad_value.jpg", tiff_exif(9, big_endian=True),
             "orientation 9 (out of range): ignored", plain),
            ("exif_loop.jpg", tiff_exif(6, next_ifd=8),
             "IFD0 links to itself; orientation 6 still applies", d)]:
        data = jpeg(plain, quality=95, exif=b"Exif\x00\x00" + blob)
        ref = pil_rgb(data, transpose=False)
        if shown is d:
            ref = np.ascontiguousarray(np.rot90(ref, -1))
        assert np.abs(ref.astype(int) - shown).max() <= 8, name
        c.ok(name, data, ref, jpeg_tol(data), note)

    # BMP, TGA, PNM.
    buf = io.BytesIO()
    Image.fromarray(base).save(buf, "BMP")
    c.ok("image.bmp", buf.getvalue(), base, 0, "24-bit BMP")
    pimg = Image.fromarray(idx.astype(np.uint8), "P")
    pimg.putpalette([v for col in PALETTE for v in col] * 32)
    buf = io.BytesIO()
    pimg.save(buf, "BMP")
    c.ok("palette.bmp", buf.getvalue(), pal[idx], 0, "8-bit palette BMP")
    buf = io.BytesIO()
    Image.fromarray(base).save(buf, "TGA")
    c.ok("image.tga", buf.getvalue(), base, 0, "uncompressed 24-bit TGA")
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "TGA", compression="tga_rle")
    c.ok("rle_alpha.tga", buf.getvalue(),
         over_white(base, np.repeat(a[:, :, None], 3, 2), 255), 0,
         "RLE 32-bit TGA with alpha, on white")
    c.ok("image.ppm", pnm(base, 255, comment=b"a comment"), base, 0,
         "P6, maxval 255, header comment")
    c.ok("gray.pgm", pnm(g[:, :, None], 255), grey3(g), 0, "P5, maxval 255")
    c.ok("gray16.pgm", pnm(g16, 65535), grey3(scale(g16[:, :, 0], 65535)),
         0, "P5, maxval 65535 (16-bit)")
    v1023 = (rgb16 >> 6).astype(np.uint16)
    c.ok("maxval1023.ppm", pnm(v1023, 1023), scale(v1023, 1023), 0,
         "P6, maxval 1023: scaled to 0..255")
    v100 = (base.astype(np.uint16) * 100 // 255).astype(np.uint16)
    c.ok("maxval100.ppm", pnm(v100, 100), scale(v100, 100), 0,
         "P6, maxval 100: scaled to 0..255")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        "tests", "data", "images")
    c = Corpus(outdir)
    build(c)
    c.manifest()
    total = 0
    for root, _, files in os.walk(outdir):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("%s: %d files in the manifest, %d bytes in all" %
          (outdir, len(c.lines), total))


if __name__ == "__main__":
    main()
