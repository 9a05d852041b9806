#!/bin/sh
# peer_openblas.sh - SGEMM against OpenBLAS on the shapes of `facet bench
# gemm` (VGG-16 im2col products and 1024^3), 1 and 2 threads.
#
#   sh tools/bench/peer_openblas.sh [--reps N] [--threads N] [--separate]
#
# Installs Debian's OpenMP build of OpenBLAS if it is missing (needs root
# and the Debian mirror), builds tools/bench/openblas_sgemm.c against it
# and the default build of libfacet.a into build/bench/, then runs facet
# and OpenBLAS in one process, alternating call by call on every shape,
# and prints both with the speed ratio facet / OpenBLAS (> 1: facet is
# faster) and its geometric mean over the VGG-16 layers.
# --separate runs `facet bench gemm` and the OpenBLAS table back to back
# instead.
#
# OpenBLAS runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset: some of
# these machines preset them to Haswell values, which would hold OpenBLAS
# to its AVX2 kernel on an AVX-512 CPU. If OpenBLAS then does not recognise
# the CPU (0.3.21 takes Emerald Rapids, family 6 model 207, for a generic
# "Prescott" and runs SSE3 code) while the CPU has AVX-512, the script sets
# OPENBLAS_CORETYPE=SkylakeX, OpenBLAS's AVX-512 SGEMM kernel, so that the
# peer is the strongest OpenBLAS on offer. The core used is printed.
set -eu
cd "$(dirname "$0")/../.."

lib=/usr/lib/x86_64-linux-gnu/openblas-openmp
inc=/usr/include/x86_64-linux-gnu/openblas-openmp

separate=0
args=""
for a in "$@"; do
    if [ "$a" = "--separate" ]; then separate=1; else args="$args $a"; fi
done

# The OpenMP build: the pthread build and facet's OpenMP threads would
# compete for the same cores.
if ! dpkg -s libopenblas-openmp-dev libopenblas0-openmp >/dev/null 2>&1; then
    echo "installing libopenblas-openmp-dev libopenblas0-openmp" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y \
        libopenblas-openmp-dev libopenblas0-openmp >&2
fi

make -s build/o1d0s0n0/libfacet.a >&2
mkdir -p build/bench
cc -std=c11 -O2 -fopenmp -D_POSIX_C_SOURCE=200809L -I"$inc" \
    -o build/bench/openblas_sgemm tools/bench/openblas_sgemm.c \
    build/o1d0s0n0/libfacet.a -L"$lib" -Wl,-rpath,"$lib" -lopenblas -lz -lm

core=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    build/bench/openblas_sgemm --corename)
force=""
case "$core" in
SkylakeX | Cooperlake | SapphireRapids) ;;
*)
    if grep -q -w avx512f /proc/cpuinfo; then
        echo "OpenBLAS picked core '$core' on an AVX-512 CPU;" \
            "forcing OPENBLAS_CORETYPE=SkylakeX" >&2
        force=SkylakeX
    fi
    ;;
esac

peer() {
    if [ -n "$force" ]; then
        env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=$force \
            build/bench/openblas_sgemm "$@"
    else
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
            build/bench/openblas_sgemm "$@"
    fi
}

if [ $separate -eq 1 ]; then
    make -s facet >&2
    # shellcheck disable=SC2086
    ./facet bench gemm $args
    # shellcheck disable=SC2086
    peer $args
else
    # shellcheck disable=SC2086
    peer --compare $args
fi
