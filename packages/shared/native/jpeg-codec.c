// JPEG work for the API, on libuv's thread pool, where libvips' pipeline costs several times
// the work itself (docs/performance.md):
// - the model's pixels from a JPEG the way PIL makes them (draft mode, then BILINEAR): libjpeg
//   handed the whole upload with DCT scaling, then PIL's antialiased bilinear in fixed point;
// - a thumbnail from those pixels: the same resample, then libjpeg's encoder.
// jpeglib.h needs stdio.h before it.
#include <stdio.h>

#include <jpeglib.h>
// JWRN_JPEG_EOF
#include <jerror.h>
#include <math.h>
#include <node_api.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// AVX2 where the CPU has it, chosen at run time; JPEG_CODEC_PORTABLE builds without it.
#if defined(__x86_64__) && !defined(JPEG_CODEC_PORTABLE)
#include <immintrin.h>
#define WITH_AVX2
#define AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define AVX2_CLONE
#endif

// PIL's precision for 8-bit channels (Resample.c): 32 bits less 8 for the value, 2 for the sign
// and the rounding.
#define PRECISION_BITS (32 - 8 - 2)

typedef struct {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} ErrorState;

static void on_error(j_common_ptr cinfo) {
  ErrorState *state = (ErrorState *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, state->message);
  longjmp(state->jump, 1);
}

// A truncated file is an error, as libvips' fail-on "error" has it; other warnings are not.
static void on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

// Per output pixel along one axis: the first source pixel, how many, and their weights.
typedef struct {
  int *first;
  int *count;
  int32_t *weights;
  int ksize;
} Coefficients;

static double bilinear(double x) {
  x = fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// PIL's precompute_coeffs and normalize_coeffs_8bpc for its BILINEAR filter (support 1).
static int coefficients(int in_size, int out_size, Coefficients *c) {
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  double *k = malloc(sizeof(double) * ksize);
  c->first = malloc(sizeof(int) * out_size);
  c->count = malloc(sizeof(int) * out_size);
  c->weights = malloc(sizeof(int32_t) * out_size * ksize);
  c->ksize = ksize;
  if (!k || !c->first || !c->count || !c->weights) {
    free(k);
    return 0;
  }
  for (int xx = 0; xx < out_size; xx++) {
    double center = (xx + 0.5) * scale;
    double total = 0.0;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      k[x] = bilinear((x + xmin - center + 0.5) / filterscale);
      total += k[x];
    }
    int32_t *w = &c->weights[xx * ksize];
    for (int x = 0; x < ksize; x++) {
      double v = x < xmax && total != 0.0 ? k[x] / total : 0.0;
      w[x] = (int32_t)(v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5));
    }
    c->first[xx] = xmin;
    c->count[xx] = xmax;
  }
  free(k);
  return 1;
}

static void free_coefficients(Coefficients *c) {
  free(c->first);
  free(c->count);
  free(c->weights);
}

static inline uint8_t clip8(int32_t v) {
  v >>= PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

// Bytes past the end of an RGBX image that the horizontal pass may read (with weight 0).
#define RGBX_PADDING 4

// The horizontal pass, one output pixel's channels at a time, for any CPU.
static void horizontal_portable(const uint8_t *src, int sw, int sh, uint8_t *mid, int dw,
                                const Coefficients *h) {
  for (int y = 0; y < sh; y++) {
    const uint8_t *row = src + (size_t)y * sw * 4;
    uint8_t *o = mid + (size_t)y * dw * 3;
    for (int x = 0; x < dw; x++, o += 3) {
      const int32_t *w = &h->weights[x * h->ksize];
      const uint8_t *p = row + (size_t)h->first[x] * 4;
      int32_t r = 1 << (PRECISION_BITS - 1), g = r, b = r;
      for (int i = 0; i < h->count[x]; i++, p += 4) {
        r += p[0] * w[i];
        g += p[1] * w[i];
        b += p[2] * w[i];
      }
      o[0] = clip8(r);
      o[1] = clip8(g);
      o[2] = clip8(b);
    }
  }
}

#ifdef WITH_AVX2
// The same sums with AVX2, two taps a step: two RGBX pixels widened to eight 32-bit lanes, each
// half with its own weight. An odd window reads one pixel past it, whose weight is 0 (a window
// holds at most ksize taps, and coefficients() zeroes the weights past its count).
__attribute__((target("avx2"))) static int horizontal_avx2(const uint8_t *src, int sw, int sh,
                                                          uint8_t *mid, int dw,
                                                          const Coefficients *h) {
  const int steps = (h->ksize + 1) / 2;
  __m256i *weights = aligned_alloc(32, sizeof(__m256i) * dw * steps);
  if (!weights) return 0;
  for (int x = 0; x < dw; x++) {
    const int32_t *w = &h->weights[x * h->ksize];
    for (int i = 0; i < steps; i++) {
      const int32_t odd = 2 * i + 1 < h->ksize ? w[2 * i + 1] : 0;
      weights[x * steps + i] = _mm256_setr_epi32(w[2 * i], w[2 * i], w[2 * i], w[2 * i], odd,
                                                 odd, odd, odd);
    }
  }
  const __m128i half = _mm_set1_epi32(1 << (PRECISION_BITS - 1));
  for (int y = 0; y < sh; y++) {
    const uint8_t *row = src + (size_t)y * sw * 4;
    uint8_t *o = mid + (size_t)y * dw * 3;
    for (int x = 0; x < dw; x++, o += 3) {
      const uint8_t *p = row + (size_t)h->first[x] * 4;
      const __m256i *w = &weights[x * steps];
      __m256i sum = _mm256_setzero_si256();
      for (int i = 0; i < (h->count[x] + 1) / 2; i++) {
        const __m256i pixels = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * i)));
        sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(pixels, w[i]));
      }
      __m128i rgbx = _mm_add_epi32(
          _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1)), half);
      rgbx = _mm_srai_epi32(rgbx, PRECISION_BITS);
      // Saturating packs: clip8's clamp to 0-255.
      rgbx = _mm_packus_epi16(_mm_packs_epi32(rgbx, rgbx), rgbx);
      const uint32_t packed = (uint32_t)_mm_cvtsi128_si32(rgbx);
      o[0] = (uint8_t)packed;
      o[1] = (uint8_t)(packed >> 8);
      o[2] = (uint8_t)(packed >> 16);
    }
  }
  free(weights);
  return 1;
}
#endif

static int horizontal(const uint8_t *src, int sw, int sh, uint8_t *mid, int dw,
                      const Coefficients *h) {
#ifdef WITH_AVX2
  if (__builtin_cpu_supports("avx2")) return horizontal_avx2(src, sw, sh, mid, dw, h);
#endif
  horizontal_portable(src, sw, sh, mid, dw, h);
  return 1;
}

// Row by row into 32-bit sums: the same sums as PIL's column walk, in memory order, which the
// compiler vectorizes.
AVX2_CLONE static void vertical(const uint8_t *mid, uint8_t *out, int dw, int dh,
                                const Coefficients *v, int32_t *sums) {
  const int n = dw * 3;
  for (int y = 0; y < dh; y++) {
    const int32_t *w = &v->weights[y * v->ksize];
    for (int x = 0; x < n; x++) sums[x] = 1 << (PRECISION_BITS - 1);
    for (int i = 0; i < v->count[y]; i++) {
      const uint8_t *p = mid + (size_t)(v->first[y] + i) * n;
      const int32_t weight = w[i];
      for (int x = 0; x < n; x++) sums[x] += p[x] * weight;
    }
    uint8_t *o = out + (size_t)y * n;
    for (int x = 0; x < n; x++) o[x] = clip8(sums[x]);
  }
}

// PIL's resample of RGBX pixels (followed by RGBX_PADDING bytes) into packed RGB: the horizontal
// pass into an 8-bit image, then the vertical, as PIL does.
static int resample(const uint8_t *src, int sw, int sh, uint8_t *out, int dw, int dh) {
  Coefficients h = {0}, v = {0};
  uint8_t *mid = malloc((size_t)dw * sh * 3);
  int32_t *sums = malloc(sizeof(int32_t) * dw * 3);
  int ok = mid && sums && coefficients(sw, dw, &h) && coefficients(sh, dh, &v) &&
           horizontal(src, sw, sh, mid, dw, &h);
  if (ok) vertical(mid, out, dw, dh, &v, sums);
  free(sums);
  free(mid);
  free_coefficients(&h);
  free_coefficients(&v);
  return ok;
}

typedef enum { DECODE, THUMBNAIL } Kind;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  Kind kind;
  const uint8_t *input;
  size_t input_size;
  int shrink;                 // DECODE: libjpeg's scale denominator
  int src_width, src_height;  // THUMBNAIL: the input's size
  int quality;                // THUMBNAIL
  int width, height;          // the output's size
  uint8_t *output;            // malloc'd, handed to the returned Buffer
  unsigned long output_size;
  char error[JMSG_LENGTH_MAX + 32];
} Task;

static void decode(Task *task) {
  struct jpeg_decompress_struct cinfo;
  ErrorState err;
  uint8_t *volatile scaled = NULL;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_error;
  err.mgr.emit_message = on_message;
  if (setjmp(err.jump)) {
    snprintf(task->error, sizeof task->error, "%s", err.message);
    jpeg_destroy_decompress(&cinfo);
    free(scaled);
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, task->input, task->input_size);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_GRAYSCALE &&
      cinfo.jpeg_color_space != JCS_RGB) {
    snprintf(task->error, sizeof task->error, "unsupported JPEG colour space %d",
             cinfo.jpeg_color_space);
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  // Four bytes a pixel, for the horizontal pass's vector loads.
  cinfo.out_color_space = JCS_EXT_RGBX;
  cinfo.scale_num = 1;
  cinfo.scale_denom = task->shrink;
  jpeg_start_decompress(&cinfo);
  int sw = cinfo.output_width, sh = cinfo.output_height;
  scaled = malloc((size_t)sw * sh * 4 + RGBX_PADDING);
  task->output = malloc((size_t)task->width * task->height * 3);
  if (!scaled || !task->output) {
    snprintf(task->error, sizeof task->error, "out of memory");
    jpeg_destroy_decompress(&cinfo);
    free(scaled);
    return;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = scaled + (size_t)cinfo.output_scanline * sw * 4;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  memset(scaled + (size_t)sw * sh * 4, 0, RGBX_PADDING);
  if (!resample(scaled, sw, sh, task->output, task->width, task->height)) {
    snprintf(task->error, sizeof task->error, "out of memory");
  }
  task->output_size = (unsigned long)task->width * task->height * 3;
  free(scaled);
}

static void thumbnail(Task *task) {
  struct jpeg_compress_struct cinfo;
  ErrorState err;
  const size_t pixels = (size_t)task->src_width * task->src_height;
  uint8_t *volatile small = malloc((size_t)task->width * task->height * 3);
  uint8_t *rgbx = malloc(pixels * 4 + RGBX_PADDING);
  if (rgbx) {
    for (size_t i = 0; i < pixels; i++) {
      rgbx[i * 4] = task->input[i * 3];
      rgbx[i * 4 + 1] = task->input[i * 3 + 1];
      rgbx[i * 4 + 2] = task->input[i * 3 + 2];
    }
    memset(rgbx + pixels * 4, 0, RGBX_PADDING);
  }
  const int ok = small && rgbx &&
                 resample(rgbx, task->src_width, task->src_height, small, task->width,
                          task->height);
  free(rgbx);
  if (!ok) {
    snprintf(task->error, sizeof task->error, "out of memory");
    free(small);
    return;
  }
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_error;
  if (setjmp(err.jump)) {
    snprintf(task->error, sizeof task->error, "%s", err.message);
    jpeg_destroy_compress(&cinfo);
    free(small);
    return;
  }
  jpeg_create_compress(&cinfo);
  // libjpeg mallocs the output as it grows; the Buffer frees it.
  jpeg_mem_dest(&cinfo, &task->output, &task->output_size);
  cinfo.image_width = task->width;
  cinfo.image_height = task->height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, task->quality, TRUE);
  cinfo.optimize_coding = TRUE;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = small + (size_t)cinfo.next_scanline * task->width * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  free(small);
}

static void execute(napi_env env, void *data) {
  (void)env;
  Task *task = (Task *)data;
  if (task->kind == DECODE) decode(task);
  else thumbnail(task);
}

static void free_output(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void complete(napi_env env, napi_status status, void *data) {
  Task *task = (Task *)data;
  napi_value result;
  if (status == napi_ok && task->error[0] == '\0') {
    napi_create_external_buffer(env, task->output_size, task->output, free_output, NULL, &result);
    napi_resolve_deferred(env, task->deferred, result);
  } else {
    napi_value message;
    napi_create_string_utf8(env, task->error[0] ? task->error : "cancelled", NAPI_AUTO_LENGTH,
                            &message);
    napi_create_error(env, NULL, message, &result);
    napi_reject_deferred(env, task->deferred, result);
    free(task->output);
  }
  napi_delete_reference(env, task->input_ref);
  napi_delete_async_work(env, task->work);
  free(task);
}

static int valid_size(int width, int height) {
  return width >= 1 && height >= 1 && width <= 8192 && height <= 8192;
}

// Reads argc arguments, the first a Buffer that the task reads on the thread pool.
static Task *new_task(napi_env env, napi_callback_info info, size_t argc, napi_value *args,
                      int32_t *ints) {
  size_t given = argc;
  napi_get_cb_info(env, info, &given, args, NULL, NULL);
  bool is_buffer = false;
  if (given < argc || napi_is_buffer(env, args[0], &is_buffer) != napi_ok || !is_buffer) {
    return NULL;
  }
  for (size_t i = 1; i < argc; i++) {
    if (napi_get_value_int32(env, args[i], &ints[i - 1]) != napi_ok) return NULL;
  }
  Task *task = calloc(1, sizeof(Task));
  if (!task) return NULL;
  void *input;
  napi_get_buffer_info(env, args[0], &input, &task->input_size);
  task->input = input;
  return task;
}

static napi_value queue(napi_env env, Task *task, napi_value input, const char *name) {
  napi_value promise, resource;
  napi_create_promise(env, &task->deferred, &promise);
  // The input stays referenced, so not collected, while the thread pool reads it.
  napi_create_reference(env, input, 1, &task->input_ref);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, execute, complete, task, &task->work);
  napi_queue_async_work(env, task->work);
  return promise;
}

static napi_value fail(napi_env env, Task *task, const char *usage) {
  free(task);
  napi_throw_type_error(env, NULL, usage);
  return NULL;
}

// jpegPixels(jpeg: Buffer, shrink: 1 | 2 | 4 | 8, width, height): Promise<Buffer>, packed RGB.
static napi_value jpeg_pixels(napi_env env, napi_callback_info info) {
  napi_value args[4];
  int32_t ints[3];
  Task *task = new_task(env, info, 4, args, ints);
  int shrink = ints[0];
  if (!task || (shrink != 1 && shrink != 2 && shrink != 4 && shrink != 8) ||
      !valid_size(ints[1], ints[2])) {
    return fail(env, task, "jpegPixels(jpeg: Buffer, shrink: 1 | 2 | 4 | 8, width, height)");
  }
  task->kind = DECODE;
  task->shrink = shrink;
  task->width = ints[1];
  task->height = ints[2];
  return queue(env, task, args[0], "jpegPixels");
}

// thumbnailJpeg(rgb: Buffer, srcWidth, srcHeight, width, height, quality): Promise<Buffer>.
static napi_value thumbnail_jpeg(napi_env env, napi_callback_info info) {
  napi_value args[6];
  int32_t ints[5];
  Task *task = new_task(env, info, 6, args, ints);
  if (!task || !valid_size(ints[0], ints[1]) || !valid_size(ints[2], ints[3]) || ints[4] < 1 ||
      ints[4] > 100 || task->input_size != (size_t)ints[0] * ints[1] * 3) {
    return fail(env, task,
                "thumbnailJpeg(rgb: Buffer of srcWidth x srcHeight x 3, srcWidth, srcHeight, "
                "width, height, quality: 1-100)");
  }
  task->kind = THUMBNAIL;
  task->src_width = ints[0];
  task->src_height = ints[1];
  task->width = ints[2];
  task->height = ints[3];
  task->quality = ints[4];
  return queue(env, task, args[0], "thumbnailJpeg");
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "jpegPixels", NAPI_AUTO_LENGTH, jpeg_pixels, NULL, &fn);
  napi_set_named_property(env, exports, "jpegPixels", fn);
  napi_create_function(env, "thumbnailJpeg", NAPI_AUTO_LENGTH, thumbnail_jpeg, NULL, &fn);
  napi_set_named_property(env, exports, "thumbnailJpeg", fn);
  return exports;
}
