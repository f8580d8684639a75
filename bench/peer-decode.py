"""The benchmark peer's decoding alone: its own model_pixels (service.py) on the photos in a folder,
run by the peer's Python, CPU ms per photo. Prints one JSON line last. With PIXELS_DIR, instead
writes each photo's pixels there (NAME.rgb, 224x224x3 bytes), for comparison with this service's.

Usage: peer-decode.py PEER_DIR PHOTOS_DIR ROUNDS [PIXELS_DIR] (PEER_MODEL set, as service.py reads it)."""
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
paths = sorted(photos_dir.iterdir())
photos = [p.read_bytes() for p in paths]

if len(sys.argv) > 4:
    pixels_dir = Path(sys.argv[4])
    for path, data in zip(paths, photos):
        pixels = service.model_pixels(Image.open(io.BytesIO(data)))
        (pixels_dir / f"{path.name}.rgb").write_bytes(pixels.tobytes())
    sys.exit(0)


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
