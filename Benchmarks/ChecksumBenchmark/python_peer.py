"""The same checksums in Python, for scripts/bench-checksums: Microsoft's CRC-64 (azure-storage-extensions, C) and
hashlib's MD5 and SHA-256 (OpenSSL), over the same kind of buffer; one JSON object per algorithm, median GB/s.

Usage: python_peer.py [--size MiB] [--runs N]
"""

import argparse
import hashlib
import json
import os
import statistics
import time

from azure.storage.extensions.checksums import crc64


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    buffer = os.urandom(args.size << 20)
    algorithms = {
        "crc64": lambda data: crc64.compute(data, 0),
        "md5": lambda data: hashlib.md5(data).digest(),
        "sha256": lambda data: hashlib.sha256(data).digest(),
    }
    for name, compute in algorithms.items():
        rates = []
        for _ in range(args.runs):
            start = time.perf_counter()
            compute(buffer)
            rates.append(len(buffer) / (time.perf_counter() - start) / 1e9)
        print(json.dumps({"client": "python", "algorithm": name, "bytes": len(buffer),
                          "gigabytesPerSecond": statistics.median(rates)}))


if __name__ == "__main__":
    main()
