#!/usr/bin/env python3
"""Seeds the ami_codec fuzz corpus with what a real Asterisk sent.

Reads the recorded AMI sessions (default tests/fixtures/asterisk/transcripts, or
RAYAN_TRANSCRIPTS, or the first argument), joins each session's server-to-client
bytes, and writes one seed per session and read size into the output directory
(second argument, default fuzz/seeds/ami_codec). The target reads its first byte
as the read size, so each session is seeded with small, medium and large reads.

    python3 fuzz/seed_ami_corpus.py
    cd fuzz && cargo +nightly fuzz run ami_codec corpus/ami_codec seeds/ami_codec
"""

import os
import re
import sys
from pathlib import Path

MARKER = re.compile(rb"==== \[\d+\] (S>C|C>S) \+[\d.]+ (\d+) bytes ====\n")
READ_SIZES = (7, 64, 255)
# Larger seeds only slow every run down; sessions are cut to this.
MAX_SEED = 20_000


def server_bytes(transcript: bytes) -> bytes:
    sent = bytearray()
    for marker in MARKER.finditer(transcript):
        if marker.group(1) == b"S>C":
            start = marker.end()
            sent += transcript[start : start + int(marker.group(2))]
    return bytes(sent)


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    default = os.environ.get("RAYAN_TRANSCRIPTS", root / "tests/fixtures/asterisk/transcripts")
    source = Path(sys.argv[1] if len(sys.argv) > 1 else default)
    out = Path(sys.argv[2] if len(sys.argv) > 2 else root / "fuzz/seeds/ami_codec")
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(source.glob("*.txt")):
        if path.name.endswith(".escaped.txt"):
            continue
        sent = server_bytes(path.read_bytes())[:MAX_SEED]
        if not sent:
            continue
        for size in READ_SIZES:
            (out / f"{path.stem}.{size}").write_bytes(bytes([size]) + sent)
            written += 1
    print(f"{written} seeds from {source} in {out}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
