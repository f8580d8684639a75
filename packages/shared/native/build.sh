#!/usr/bin/env bash
# Builds build/jpeg-codec.node with the system's C compiler: Node-API's headers come from the
# node-api-headers package and libjpeg-turbo from Debian (libjpeg62-turbo-dev), so neither
# node-gyp nor a download of Node's headers is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! printf '#include <stdio.h>\n#include <jpeglib.h>\n' | "${CC:-cc}" -E - >/dev/null 2>&1; then
  echo "native/build.sh: needs a C compiler and libjpeg's headers (apt-get install gcc libjpeg62-turbo-dev)" >&2
  exit 1
fi
mkdir -p build
build() {
  "${CC:-cc}" -O3 -Wall -Werror -fPIC -shared "$@" \
    -I"$(node -p "require('node-api-headers').include_dir")" native/jpeg-codec.c -ljpeg -lm
}
build -o build/jpeg-codec.node
# Without the AVX2 path, as CPUs without AVX2 run it: the tests hold it to the same bytes.
build -DJPEG_CODEC_PORTABLE -o build/jpeg-codec-portable.node
