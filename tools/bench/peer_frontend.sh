#!/bin/sh
# peer_frontend.sh - the face front end's stages in facet beside its peers,
# in one run so that a shared machine's drift falls on all of them alike:
#
#   sh tools/bench/peer_frontend.sh [--rounds N]
#
# Each round runs, in turn:
#   facet bench frontend --threads 1, then --threads 2 (load, detect,
#       landmarks, align, hair, parts at 250x250 and 1024x1024)
#   face-api 1.7.15 in Node (TF.js 4.22 WASM, 1 thread): its SSD detector
#       at 512x512, the same network facet runs (tools/fixtures/
#       faceapi_fixtures.js --bench 5); needs the npm set-up written at the
#       top of that script (done here when node_modules is missing)
#   dlib 19.24's HOG detector and 68-point predictor over every third LFW
#       photo (250x250), when Debian libdlib-dev is installed
#       (tools/fixtures/dlib_hog_boxes.cpp prints its median detection time)
# Needs `make weights` and the research photos ($FACET_DATA, default
# ../shared/data). Nothing is written in the repository except the
# fixture tools' node_modules (git-ignored).
set -eu
cd "$(dirname "$0")/../.."

rounds=2
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: sh tools/bench/peer_frontend.sh [--rounds N]" >&2
       exit 2 ;;
    esac
done
data=${FACET_DATA:-../shared/data}
work=$(mktemp -d "${TMPDIR:-/tmp}/facet-peer-frontend.XXXXXX")
trap 'rm -rf "$work"' EXIT

make -s facet
if [ ! -d tools/fixtures/node_modules/@vladmandic/face-api ]; then
    (cd tools/fixtures && npm install --no-save --no-package-lock --silent \
        @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 \
        ../../weights/cache/vladmandic-face-api-1.7.15.tgz)
fi
dlib=""
if pkg-config --exists dlib-1 2>/dev/null; then
    g++ -O2 -std=c++14 -o "$work/dlib_hog_boxes" \
        tools/fixtures/dlib_hog_boxes.cpp $(pkg-config --cflags --libs dlib-1)
    dlib="$work/dlib_hog_boxes"
else
    echo "peer_frontend: dlib not installed (apt-get install libdlib-dev):" \
         "its HOG detector is left out" >&2
fi

r=1
while [ "$r" -le "$rounds" ]; do
    echo "== round $r"
    ./facet bench frontend --threads 1
    ./facet bench frontend --threads 2
    node tools/fixtures/faceapi_fixtures.js "$work/faceapi" --bench 5 |
        grep '^face-api'
    if [ -n "$dlib" ]; then
        "$dlib" weights/cache/shape_predictor_68_face_landmarks.dat "$data" \
            "$work/dlib_lfw.txt" | grep '^dlib HOG'
    fi
    r=$((r + 1))
done
