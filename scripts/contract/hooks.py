"""Schemathesis hooks: an upload part declared as image/jpeg, image/png, ... gets a real image of
that type (random size, mode and pixels), so positive tests send what the contract promises
to accept; a well-formed Idempotency-Key is made unique per request (see before_call). Other
bodies, and every negative test, are schemathesis's own."""
import io
import re
import uuid

import schemathesis
from hypothesis import strategies as st
from PIL import Image

# Media type -> Pillow format and the pixel modes it writes.
FORMATS = {
    "image/jpeg": ("JPEG", ["RGB", "L", "CMYK"]),
    "image/png": ("PNG", ["RGB", "RGBA", "L", "LA", "I;16"]),
    "image/webp": ("WEBP", ["RGB", "RGBA"]),
    "image/gif": ("GIF", ["RGB", "L"]),
    "image/tiff": ("TIFF", ["RGB", "L"]),
    "image/bmp": ("BMP", ["RGB", "L"]),
}


def images(fmt: str, modes: list[str]) -> st.SearchStrategy[bytes]:
    @st.composite
    def draw_image(draw) -> bytes:
        width = draw(st.integers(min_value=1, max_value=96))
        height = draw(st.integers(min_value=1, max_value=96))
        mode = draw(st.sampled_from(modes))
        rnd = draw(st.randoms(use_true_random=False))
        image = Image.new(mode, (width, height))
        image.frombytes(rnd.randbytes(len(image.tobytes())))
        out = io.BytesIO()
        image.save(out, format=fmt)
        return out.getvalue()

    return draw_image()


for media_type, (fmt, modes) in FORMATS.items():
    schemathesis.openapi.media_type(media_type, images(fmt, modes))


# The API's pattern for the header (services/api/src/idempotency/idempotency.ts).
IDEMPOTENCY_KEY = re.compile(r'^("[!-~]{1,255}"|[!-~]{1,255})$')


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Generated keys repeat across different bodies, which the contract answers with 422
    IDEMPOTENCY_KEY_REUSED; a well-formed key gets a fresh value for each request (in every
    phase, so also on the cases the coverage phase builds), a malformed one stays (400)."""
    key = (case.headers or {}).get("idempotency-key")
    if isinstance(key, str) and IDEMPOTENCY_KEY.match(key):
        case.headers["idempotency-key"] = str(uuid.uuid4())
