#!/bin/sh
# characterize_eval.sh - the end-to-end checks of `facet characterize` on
# real photos (docs/RESULTS.md records its output):
#
#   sh tools/eval/characterize_eval.sh [--out DIR] [--seed N] [--keep-padding]
#
# For each of the three people of $FACET_DATA/lfw (default ../shared/data):
# the first 100 of their photos as P_ind, plus 3 photos of another of the
# three people planted in P_ind (<other>_0001..0003), against the first 100
# photos of celebahq/images as P_arb, with 200 evaluation pairs:
#   planted   the ranks of the 3 planted photos counted from the least
#             representative (criterion: at least 2 of 3 within 5)
#   jaccard   median Jaccard index of the binarised (0.1) normalised maps
#             over 200 (P_ind, P_arb) pairs, PCAM and CAM (criterion:
#             PCAM lower)
#   selection the share of the most frequent 4-part selection (eyes,
#             brows, nose, mouth), PCAM and CAM: over the 200 pairs (the
#             parts where the person's portrait beats the other's; the
#             paper's test) on normalised maps and on raw part sums, and
#             over the majority decisions of P_ind on normalised maps
#             (criterion: PCAM higher)
# then the same run for the first person at 1 and at 2 threads with
# --no-timings, whose report.json files must be identical byte for byte.
# Features are cached (weights/cache/features): the first run computes
# them (minutes per person), later runs take seconds.
set -eu
cd "$(dirname "$0")/../.."

out=${TMPDIR:-/tmp}/facet-characterize-eval
seed=1
keep=
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --keep-padding) keep=--keep-padding; shift ;;
    *) echo "usage: sh tools/eval/characterize_eval.sh [--out DIR]" \
            "[--seed N] [--keep-padding]" >&2
       exit 2 ;;
    esac
done
data=${FACET_DATA:-../shared/data}
for d in "$data/lfw/Tony_Blair" "$data/lfw/Colin_Powell" \
         "$data/lfw/George_W_Bush" "$data/celebahq/images"; do
    [ -d "$d" ] || { echo "characterize_eval: $d: not found" >&2; exit 1; }
done
make -s facet
mkdir -p "$out"

# Planted photos: 3 of another person, as links in a folder of their own.
plant() {
    mkdir -p "$out/planted_$1"
    for i in 0001 0002 0003; do
        ln -sf "$(cd "$data/lfw/$1" && pwd)/$1_$i.jpg" "$out/planted_$1/"
    done
}

summary() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1] + "/report.json"))
e = r["eval"]
ranks = sorted(p["rank_from_least"] for p in r["planted"])
within = sum(1 for k in ranks if k <= 5)
sc = e["selection_consistency"]
def sel(how, sums):
    d = sc[how][sums]
    return "%.0f%% (%s) / %.0f%% (%s)" % (
        100.0 * d["pcam_top_frequency"], name(d["pcam_top_index"]),
        100.0 * d["cam_top_frequency"], name(d["cam_top_index"]))
def name(index):
    # Bits 0..3: nose, mouth, eyes, eyebrows (report.json's order).
    s = "".join(c for b, c in enumerate("NMEB") if index >> b & 1)
    return s or "none"
print("| %s | %s (%d of 3 within 5) | %.1f / %.1f | %s | %s | %s | %s |"
      % (sys.argv[2], ", ".join(map(str, ranks)), within,
         e["jaccard_pcam_median"], e["jaccard_cam_median"],
         sel("pairs", "normalised"), sel("pairs", "raw"),
         sel("majority", "normalised"), r["parts"]["selection"] or "-"))
EOF
}

echo "| person (planted) | planted ranks from least | median Jaccard PCAM / CAM | top selection over the pairs, normalised maps, PCAM / CAM | the same, raw sums | top majority selection of P_ind, normalised maps, PCAM / CAM | parts |"
echo "|---|---|---|---|---|---|---|"
for pair in Tony_Blair:Colin_Powell Colin_Powell:Tony_Blair \
            George_W_Bush:Tony_Blair; do
    who=${pair%%:*}
    other=${pair##*:}
    plant "$other"
    ./facet characterize -q --seed "$seed" $keep --person "$data/lfw/$who" \
        --planted "$out/planted_$other" --others "$data/celebahq/images" \
        --max-photos 100 --eval-pairs 200 --out "$out/$who" || [ $? -eq 3 ]
    summary "$out/$who" "$who ($other)"
done

# The same seed at 1 and 2 threads.
for t in 1 2; do
    ./facet characterize -q --seed "$seed" $keep --threads "$t" --no-timings \
        --person "$data/lfw/Tony_Blair" --planted "$out/planted_Colin_Powell" \
        --others "$data/celebahq/images" --max-photos 100 --eval-pairs 200 \
        --out "$out/threads$t" || [ $? -eq 3 ]
done
if cmp -s "$out/threads1/report.json" "$out/threads2/report.json"; then
    echo "threads: report.json identical with 1 and 2 threads"
else
    echo "threads: report.json DIFFERS between 1 and 2 threads"
    exit 1
fi
