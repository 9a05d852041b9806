#!/bin/sh
# peer_ort.sh - VGG-16 conv1_1..conv5_3 (224 x 224) in facet against ONNX
# Runtime 1.30 (onnxruntime-node, CPU), 1 and 2 threads, batch 1 and 8.
#
#   sh tools/bench/peer_ort.sh [--rounds N] [--reps N]
#
# Installs onnxruntime-node@1.30.0 with npm into a work folder (default
# ${TMPDIR:-/tmp}/facet-peer-ort, kept between runs; FACET_ORT_DIR
# overrides it), writes the model there with make_vgg16_onnx.js, builds
# `facet`, then runs, N rounds over:
#   facet 1 thread, ORT 1 thread, facet 2 threads, ORT 2 threads
# (each at batch 1 and 8), so that the drift of a shared machine falls on
# both sides alike. Each run reports the median ms/image of its
# repetitions; the table gives the median over the rounds and the ratio
# ORT / facet (> 1: facet is faster).
#
# --reps N sets the timed repetitions per run for both (default: facet's
# own, 10 at batch 1 and 3 at batch 8; ORT the same).
set -eu
cd "$(dirname "$0")/../.."

rounds=3
reps=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    *) echo "usage: sh tools/bench/peer_ort.sh [--rounds N] [--reps N]" >&2
       exit 2 ;;
    esac
done

work=${FACET_ORT_DIR:-${TMPDIR:-/tmp}/facet-peer-ort}
ort="$work/node_modules/onnxruntime-node"
mkdir -p "$work"
if [ ! -f "$ort/package.json" ]; then
    echo "installing onnxruntime-node@1.30.0 into $work" >&2
    # The package's install script would try to download a GPU build; the
    # CPU library ships inside the package itself.
    (cd "$work" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund \
            onnxruntime-node@1.30.0 >&2)
fi
[ -f "$work/vgg16.onnx" ] || node tools/bench/make_vgg16_onnx.js \
    "$work/vgg16.onnx"
make -s facet >&2

out="$work/runs.txt"
: >"$out"
for r in $(seq "$rounds"); do
    for t in 1 2; do
        echo "round $r/$rounds: facet and ORT, $t thread(s)" >&2
        if [ -n "$reps" ]; then
            ./facet bench vgg --threads "$t" --reps "$reps"
        else
            ./facet bench vgg --threads "$t"
        fi | awk '$1 == "vgg16" { print "facet", $2, $3, $4 }' >>"$out"
        for b in 1 8; do
            n=${reps:-$([ "$b" = 1 ] && echo 10 || echo 3)}
            node tools/bench/ort_vgg16.js "$ort" "$work/vgg16.onnx" "$t" "$b" \
                "$n" | awk '$1 == "ort" { print "ort", $2, $3, $4 }' >>"$out"
        done
    done
done

# Median over rounds per (system, threads, batch), then the table.
sort -k1,1 -k2,2n -k3,3n -k4,4n "$out" | awk -v rounds="$rounds" '
function median(key,   n, m) {
    n = cnt[key]
    if (n % 2) return v[key, (n + 1) / 2]
    return (v[key, n / 2] + v[key, n / 2 + 1]) / 2
}
{ key = $1 " " $2 " " $3; v[key, ++cnt[key]] = $4 }
END {
    printf "\nVGG-16 conv1_1..conv5_3, 224x224: ms/image, "
    printf "median of %d rounds\n", rounds
    printf "%8s %6s %10s %10s %12s\n", "threads", "batch", "facet", "ORT",
        "ORT/facet"
    for (t = 1; t <= 2; t++)
        for (b = 1; b <= 8; b += 7) {
            f = median("facet " t " " b); o = median("ort " t " " b)
            printf "%8d %6d %10.1f %10.1f %12.2f\n", t, b, f, o, o / f
        }
}'
echo "(each run: $out)" >&2
