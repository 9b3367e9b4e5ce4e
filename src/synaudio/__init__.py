"""synaudio: the reproducibility archive for disentangled audio representation learning."""

import os
import platform

__version__ = "0.1.0"

# One code path for every CPU kernel, whatever the machine offers. PyTorch (ATen),
# MKL (BLAS, FFT) and oneDNN (convolutions) pick their code path from the CPU they find,
# and the paths round differently: the same features and training gave other bytes on an
# AVX2 machine than on the AVX-512 one that first ran them (measured: mel, conv forward
# and gradient, matmul each hash differently under ATen's `default` and `avx2` paths).
# ATen and oneDNN are pinned to AVX2 - the newest set every x86-64 machine we run on has.
# MKL is pinned to its COMPATIBLE branch: its AVX2 branch holds on Intel CPUs only (on
# others MKL falls back to its automatic choice, Intel's CNR guide says), and so the
# features computed on an AMD EPYC under MKL_CBWR=AVX2 differed from an Intel Xeon's
# (measured, session 9: every branch hashes the STFT and the mel matmul differently).
# COMPATIBLE costs ~8 % of a training step (the linear layers' sgemm) and makes datasets
# and features a function of the inputs alone on any x86-64 CPU. Weights stay specific
# to the CPU model: oneDNN sizes its convolution blocking by the caches. Set before torch
# is imported (the libraries read these once, at their first use); export another value
# to opt out, e.g. SYNAUDIO_CPU_ISA=native for the machine's fastest path at the cost of
# that guarantee. OpenBLAS (numpy's and scipy's BLAS, under scikit-learn's solvers) picks
# its kernel the same way: an AMD machine took `Haswell` where the one that first
# evaluated the paper protocol took another, and SAP came out different in its 17th
# significant digit.
CPU_ISA = os.environ.get("SYNAUDIO_CPU_ISA", "avx2")
OPENBLAS_CORES = {"avx2": "Haswell", "avx512": "SkylakeX"}
if CPU_ISA != "native" and platform.machine() in ("x86_64", "AMD64"):
    os.environ.setdefault("ATEN_CPU_CAPABILITY", CPU_ISA.lower())
    os.environ.setdefault("MKL_CBWR", "COMPATIBLE")
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", CPU_ISA.upper())
    if CPU_ISA.lower() in OPENBLAS_CORES:
        os.environ.setdefault("OPENBLAS_CORETYPE", OPENBLAS_CORES[CPU_ISA.lower()])
