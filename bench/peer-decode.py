"""The benchmark peer's decoding alone: its own model_pixels (service.py) on the photos in a folder,
run by the peer's Python, CPU ms per photo. Prints one JSON line last.

Usage: peer-decode.py PEER_DIR PHOTOS_DIR ROUNDS (PEER_MODEL set, as service.py reads it)."""
import importlib.util
import io
import json
import sys
import time
from pathlib import Path

from PIL import Image

peer_dir, photos_dir, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("peer_service", peer_dir / "service.py")
service = importlib.util.module_from_spec(spec)
spec.loader.exec_module(service)
photos = [p.read_bytes() for p in sorted(photos_dir.iterdir())]


def decode(data: bytes) -> None:
    # As the peer's request path: the upload opened lazily, then its model_pixels.
    service.model_pixels(Image.open(io.BytesIO(data)))


for data in photos:
    decode(data)
start = time.process_time()
for _ in range(rounds):
    for data in photos:
        decode(data)
used = time.process_time() - start
print(json.dumps({"cpuMsPerImage": round(used * 1000 / (rounds * len(photos)), 2)}))
