/*
 * voxelio's own png codec, with libdeflate for the zlib stream: decodes png chunks, whole or the
 * rows a box needs, straight into the box, and encodes them.
 *
 * A png file is a signature and chunks (length, type, data, CRC-32 of type and data). IHDR
 * gives the image; the IDAT chunks together hold one zlib stream of the rows, each a filter
 * type byte and the row's samples (big-endian when 16 bits wide), filtered against the pixel
 * to the left and the row above (types 0-4: none, sub, up, average, Paeth). libdeflate
 * inflates the whole stream (it cannot stop early, and it is several times faster than zlib);
 * the rows are then unfiltered up to the last one the box needs and copied into the box.
 *
 * Every chunk's CRC, the zlib stream's Adler-32 and its exact length are checked: a corrupt or
 * truncated stream raises ValueError. Only plain images are decoded: not interlaced, gray,
 * gray+alpha, RGB or RGBA, no transparency chunk, samples as wide as the layer's, width x by
 * height y*z. decode_rows() answers False for any other image, which the caller decodes whole
 * with a png library. All of it runs without the GIL.
 *
 * encode() writes a signature, IHDR, one IDAT and IEND. Each row takes the filter whose output
 * has the least sum of bytes read as signed values (libpng's heuristic); libdeflate compresses
 * the rows in one call, several times faster than zlib and a little smaller at the same level.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <libdeflate.h>

#include "_rows.h"

static const unsigned char SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

typedef struct {
    uint32_t width, height;
    int depth, color, interlace, transparency;
    unsigned char *stream; /* the IDAT data, joined */
    size_t stream_len;
} png_image;

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether this machine stores the low byte of a sample first (png wants the high byte). */
static int little_endian(void) {
    const uint16_t probe = 1;
    return *(const unsigned char *)&probe == 1;
}

static int fail(char *message, const char *what) {
    snprintf(message, ROWS_MESSAGE, "%s", what);
    return -1;
}

/* Walk the chunks: check each CRC, read IHDR, join the IDAT data; 0, or -1 (message set). */
static int read_chunks(const unsigned char *data, size_t len, png_image *img, char *message) {
    if (len < 8 || memcmp(data, SIGNATURE, 8) != 0) return fail(message, "no PNG signature");
    size_t pos = 8, joined = 0;
    int seen_header = 0;
    while (1) {
        if (len - pos < 12) return fail(message, "the file ends inside a chunk");
        uint32_t n = be32(data + pos);
        const unsigned char *type = data + pos + 4, *body = data + pos + 8;
        if (n > len - pos - 12) return fail(message, "a chunk runs past the end of the file");
        if ((uint32_t)libdeflate_crc32(0, type, (size_t)n + 4) != be32(body + n))
            return fail(message, "a chunk's CRC does not match its data");
        if (!seen_header) {
            if (memcmp(type, "IHDR", 4) != 0 || n != 13)
                return fail(message, "the first chunk is not a 13-byte IHDR");
            img->width = be32(body);
            img->height = be32(body + 4);
            img->depth = body[8];
            img->color = body[9];
            img->interlace = body[12];
            seen_header = 1;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            if (img->stream == NULL && (img->stream = malloc(len)) == NULL) /* holds them all */
                return fail(message, "out of memory");
            memcpy(img->stream + joined, body, n);
            joined += n;
        } else if (memcmp(type, "tRNS", 4) == 0) {
            img->transparency = 1;
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        }
        pos += (size_t)n + 12;
    }
    if (joined == 0) return fail(message, "no image data (IDAT)");
    img->stream_len = joined;
    return 0;
}

/* Whether the image is one this decoder reads as the layer stores it. */
static int plain_image(const png_image *img, const rows_job *job) {
    static const int channels_of[7] = {1, 0, 3, 0, 2, 0, 4}; /* by color type; 0: not read */
    int channels = img->color >= 0 && img->color < 7 ? channels_of[img->color] : 0;
    return channels == job->channels && img->depth == 8 * job->itemsize && img->interlace == 0
           && !img->transparency && (Py_ssize_t)img->width == job->size[0]
           && (Py_ssize_t)img->height == job->size[1] * job->size[2];
}

/* The Paeth predictor of left a, above b, upper left c, without branches (unfiltering, each
 * byte of a row waits for the one before it, so a mispredicted branch costs every byte), in
 * 16-bit arithmetic (filtering, the compiler then vectorizes a row). */
static inline int16_t paeth(int16_t a, int16_t b, int16_t c) {
    int16_t p = (int16_t)(a + b - c);
    int16_t pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    int16_t take_b = (int16_t)-(pb <= pc), take_a = (int16_t)-((pa <= pb) & (pa <= pc));
    int16_t bc = (int16_t)((b & take_b) | (c & ~take_b));
    return (int16_t)((a & take_a) | (bc & ~take_a));
}

/* Undo the sub, average or Paeth filter of a row of one-byte pixels: the byte to the left
 * stays in a register (read back from memory, each byte would wait for the store before it). */
static void unfilter_bytes(int type, unsigned char *row, const unsigned char *prev, size_t n) {
    int left = 0, upper_left = 0;
    for (size_t i = 0; i < n; i++) {
        int above = prev[i];
        int guess = type == 1 ? left : type == 3 ? (left + above) >> 1 : paeth(left, above, upper_left);
        left = (row[i] + guess) & 0xff;
        row[i] = (unsigned char)left;
        upper_left = above;
    }
}

/* Undo the filter of one row in place (prev: the row above, unfiltered, or zeros); 0 or -1. */
static int unfilter(int type, unsigned char *row, const unsigned char *prev, size_t n, size_t bpp) {
    size_t i;
    if (type > 4) return -1;
    if (bpp == 1 && type != 0 && type != 2) {
        unfilter_bytes(type, row, prev, n);
        return 0;
    }
    switch (type) {
    case 1:
        for (i = bpp; i < n; i++) row[i] = (unsigned char)(row[i] + row[i - bpp]);
        break;
    case 2:
        for (i = 0; i < n; i++) row[i] = (unsigned char)(row[i] + prev[i]);
        break;
    case 3:
        for (i = 0; i < bpp; i++) row[i] = (unsigned char)(row[i] + (prev[i] >> 1));
        for (; i < n; i++) row[i] = (unsigned char)(row[i] + ((row[i - bpp] + prev[i]) >> 1));
        break;
    case 4:
        for (i = 0; i < bpp; i++) row[i] = (unsigned char)(row[i] + prev[i]);
        for (; i < n; i++) row[i] = (unsigned char)(row[i] + paeth(row[i - bpp], prev[i], prev[i - bpp]));
        break;
    }
    return 0;
}

/* Inflate, unfilter the rows up to the box's last and copy the box's; 0 or -1. */
static int decode_rows_of(const png_image *img, const rows_job *job, unsigned char *pixels,
                          unsigned char *swapped, char *message) {
    size_t bpp = (size_t)(job->channels * job->itemsize);
    size_t row_bytes = (size_t)img->width * bpp, stride = row_bytes + 1;
    size_t expected = stride * img->height, got = 0;
    struct libdeflate_decompressor *inflater = libdeflate_alloc_decompressor();
    if (inflater == NULL) return fail(message, "out of memory");
    enum libdeflate_result status = libdeflate_zlib_decompress(
        inflater, img->stream, img->stream_len, pixels, expected, &got);
    libdeflate_free_decompressor(inflater);
    if (status != LIBDEFLATE_SUCCESS || got != expected)
        return fail(message, "the image data is corrupt or of the wrong size");
    const unsigned char *prev = swapped; /* zeros: the row above the first */
    memset(swapped, 0, row_bytes);
    Py_ssize_t last = rows_end(job);
    for (Py_ssize_t r = 0; r < last; r++) {
        unsigned char *row = pixels + (size_t)r * stride;
        if (unfilter(row[0], row + 1, prev, row_bytes, bpp) < 0)
            return fail(message, "a row has an unknown filter type");
        prev = row + 1;
        if (!row_needed(job, r)) continue;
        if (job->itemsize == 2 && little_endian()) { /* swap big-endian samples beside the row */
            for (size_t i = 0; i < row_bytes; i += 2) {
                swapped[i] = row[2 + i];
                swapped[i + 1] = row[1 + i];
            }
            copy_row(job, swapped, r);
        } else {
            copy_row(job, row + 1, r);
        }
    }
    return 0;
}

/* The rows_decoder of png streams. */
static int run(const unsigned char *data, size_t len, const rows_job *job, char *message) {
    if ((job->itemsize != 1 && job->itemsize != 2) || job->channels < 1 || job->channels > 4)
        return fail(message, "out: expected uint8 or uint16 samples, 1 to 4 channels");
    png_image img = {0};
    unsigned char *pixels = NULL, *swapped = NULL;
    int result = read_chunks(data, len, &img, message);
    if (result == 0 && !plain_image(&img, job)) result = 1;
    size_t row_bytes = (size_t)img.width * (size_t)(job->channels * job->itemsize);
    /* img.height >= 1 once plain_image() matched it to the chunk */
    if (result == 0 && row_bytes + 1 > (size_t)PY_SSIZE_T_MAX / img.height)
        result = fail(message, "the image is too large");
    if (result == 0) {
        pixels = malloc((row_bytes + 1) * img.height);
        swapped = malloc(row_bytes);
        if (pixels == NULL || swapped == NULL)
            result = fail(message, "out of memory");
        else
            result = decode_rows_of(&img, job, pixels, swapped, message);
    }
    free(swapped);
    free(pixels);
    free(img.stream);
    return result;
}

/* ---- Encoding ---- */

/* A [x, y, z, c] chunk of uint8 or uint16 samples, any strides. */
typedef struct {
    const char *buf;
    Py_ssize_t shape[4], strides[4], itemsize;
} chunk_view;

/* Image row `row` of the chunk (y = row % Y, z = row / Y) into dst as png samples: channels
 * interleaved, 16-bit samples big-endian. */
static void gather_row(const chunk_view *c, Py_ssize_t row, unsigned char *dst, int swap) {
    const char *src = c->buf + (row % c->shape[1]) * c->strides[1]
                      + (row / c->shape[1]) * c->strides[2];
    if (c->shape[3] == 1 && c->itemsize == 1 && c->strides[0] == 1) {
        memcpy(dst, src, (size_t)c->shape[0]);
        return;
    }
    for (Py_ssize_t x = 0; x < c->shape[0]; x++)
        for (Py_ssize_t ch = 0; ch < c->shape[3]; ch++) {
            const char *sample = src + x * c->strides[0] + ch * c->strides[3];
            if (c->itemsize == 1) {
                *dst++ = (unsigned char)*sample;
            } else {
                dst[0] = (unsigned char)sample[swap];
                dst[1] = (unsigned char)sample[1 - swap];
                dst += 2;
            }
        }
}

/* `row` filtered with png filter `type` (prev: the row above, or zeros) into dst: the first
 * pixel, which has no left neighbour, then the rest in loops the compiler vectorizes. */
static void filter_row(int type, const unsigned char *row, const unsigned char *prev,
                       unsigned char *dst, size_t n, size_t bpp) {
    size_t i, head = bpp < n ? bpp : n;
    switch (type) {
    case 0:
        memcpy(dst, row, n);
        break;
    case 1:
        memcpy(dst, row, head);
        for (i = bpp; i < n; i++) dst[i] = (unsigned char)(row[i] - row[i - bpp]);
        break;
    case 2:
        for (i = 0; i < n; i++) dst[i] = (unsigned char)(row[i] - prev[i]);
        break;
    case 3:
        for (i = 0; i < head; i++) dst[i] = (unsigned char)(row[i] - (prev[i] >> 1));
        for (i = bpp; i < n; i++) dst[i] = (unsigned char)(row[i] - ((row[i - bpp] + prev[i]) >> 1));
        break;
    default:
        for (i = 0; i < head; i++) dst[i] = (unsigned char)(row[i] - prev[i]);
        for (i = bpp; i < n; i++)
            dst[i] = (unsigned char)(row[i] - paeth(row[i - bpp], prev[i], prev[i - bpp]));
    }
}

/* The sum of the filtered bytes read as signed values: the smaller, the better the row
 * usually compresses (libpng's heuristic). */
static size_t filter_cost(const unsigned char *filtered, size_t n) {
    size_t sum = 0;
    for (size_t start = 0; start < n; start += 1 << 16) { /* no overflow of 32-bit sums */
        size_t end = n - start < (1 << 16) ? n : start + (1 << 16);
        uint32_t part = 0;
        for (size_t i = start; i < end; i++) {
            unsigned char v = filtered[i], minus = (unsigned char)-v;
            part += v < minus ? v : minus; /* |v| with v read as signed */
        }
        sum += part;
    }
    return sum;
}

/* Every image row of the chunk, each with the filter of least cost, into `out` (a filter type
 * byte, then the row). `scratch` holds 4 rows. */
static void filter_image(const chunk_view *c, unsigned char *out, unsigned char *scratch) {
    size_t bpp = (size_t)(c->shape[3] * c->itemsize), n = (size_t)c->shape[0] * bpp;
    unsigned char *row = scratch, *prev = scratch + n, *trial = scratch + 2 * n,
                  *best = scratch + 3 * n;
    Py_ssize_t height = c->shape[1] * c->shape[2];
    int swap = little_endian();
    memset(prev, 0, n);
    for (Py_ssize_t r = 0; r < height; r++) {
        gather_row(c, r, row, swap);
        size_t best_cost = (size_t)-1;
        int best_type = 0;
        for (int type = 0; type < 5; type++) {
            filter_row(type, row, prev, trial, n, bpp);
            size_t cost = filter_cost(trial, n);
            if (cost < best_cost) {
                unsigned char *keep = trial;
                trial = best, best = keep, best_cost = cost, best_type = type;
            }
        }
        unsigned char *dst = out + (size_t)r * (n + 1);
        dst[0] = (unsigned char)best_type;
        memcpy(dst + 1, best, n);
        unsigned char *done = prev;
        prev = row, row = done;
    }
}

static unsigned char *put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
    return p + 4;
}

/* The png chunk of `type` whose `len` bytes of data are already at p + 8: its length, type
 * and CRC around them; returns the end of the chunk. */
static unsigned char *seal_chunk(unsigned char *p, const char *type, uint32_t len) {
    put_be32(p, len);
    memcpy(p + 4, type, 4);
    return put_be32(p + 8 + len, (uint32_t)libdeflate_crc32(0, p + 4, (size_t)len + 4));
}

/* The png file around a zlib stream of `len` bytes at file + 41 (signature, IHDR, IDAT, IEND);
 * returns its length. */
static size_t seal_png(unsigned char *file, const chunk_view *c, uint32_t len) {
    static const unsigned char color_of[5] = {0, 0, 4, 2, 6}; /* png color type by channels */
    memcpy(file, SIGNATURE, 8);
    unsigned char *head = file + 16;
    put_be32(head, (uint32_t)c->shape[0]);
    put_be32(head + 4, (uint32_t)(c->shape[1] * c->shape[2]));
    head[8] = (unsigned char)(8 * c->itemsize);
    head[9] = color_of[c->shape[3]];
    head[10] = head[11] = head[12] = 0; /* deflate, adaptive filtering, not interlaced */
    unsigned char *end = seal_chunk(file + 8, "IHDR", 13);
    end = seal_chunk(end, "IDAT", len);
    return (size_t)(seal_chunk(end, "IEND", 0) - file);
}

/* Whether a buffer format names uint8, or uint16 in this machine's byte order. */
static int plain_samples(const char *format) {
    if (format == NULL) return 0;
    if (*format == '@' || *format == '=' || *format == (little_endian() ? '<' : '>')) format++;
    return strcmp(format, "B") == 0 || strcmp(format, "H") == 0;
}

/* The chunk of the buffer `view`, checked: 0, or -1 with ValueError. */
static int chunk_of(const Py_buffer *view, chunk_view *c) {
    if (view->ndim != 4 || (view->itemsize != 1 && view->itemsize != 2) || !plain_samples(view->format))
        return PyErr_SetString(PyExc_ValueError,
                               "chunk: expected a 4-D array of uint8 or uint16 in native byte order"),
               -1;
    c->buf = view->buf;
    c->itemsize = view->itemsize;
    for (int i = 0; i < 4; i++) c->shape[i] = view->shape[i], c->strides[i] = view->strides[i];
    if (c->shape[3] < 1 || c->shape[3] > 4)
        return PyErr_SetString(PyExc_ValueError, "chunk: expected 1 to 4 channels"), -1;
    if (c->shape[0] < 1 || c->shape[1] < 1 || c->shape[2] < 1 || c->shape[0] > 0x7fffffff
        || c->shape[1] > 0x7fffffff / c->shape[2]
        || c->shape[0] > PY_SSIZE_T_MAX / (c->shape[3] * c->itemsize)) /* a row's bytes */
        return PyErr_SetString(PyExc_ValueError, "chunk: empty, or larger than a png image can be"), -1;
    return 0;
}

/* Filter and compress the chunk into `file` (room for a png of `bound` bytes of zlib data);
 * the png's length, or 0 when the stream does not fit one IDAT chunk. Runs without the GIL. */
static size_t encode_into(const chunk_view *c, struct libdeflate_compressor *deflater,
                          unsigned char *filtered, size_t filtered_len, unsigned char *scratch,
                          unsigned char *file, size_t bound) {
    filter_image(c, filtered, scratch);
    size_t len = libdeflate_zlib_compress(deflater, filtered, filtered_len, file + 41, bound);
    return len == 0 || len > 0x7fffffff ? 0 : seal_png(file, c, (uint32_t)len);
}

static PyObject *py_encode(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *chunk_obj, *result = NULL;
    int level;
    Py_buffer view = {0};
    chunk_view c;
    struct libdeflate_compressor *deflater = NULL;
    unsigned char *filtered = NULL, *scratch = NULL;
    if (!PyArg_ParseTuple(args, "Oi", &chunk_obj, &level)) return NULL;
    if (level < 0 || level > 12)
        return PyErr_SetString(PyExc_ValueError, "level: expected 0 to 12"), NULL;
    if (PyObject_GetBuffer(chunk_obj, &view, PyBUF_STRIDES | PyBUF_FORMAT) < 0) return NULL;
    if (chunk_of(&view, &c) < 0) goto done;
    size_t n = (size_t)(c.shape[0] * c.shape[3] * c.itemsize), height = (size_t)(c.shape[1] * c.shape[2]);
    if (n + 1 > (size_t)PY_SSIZE_T_MAX / 2 / height) {
        PyErr_SetString(PyExc_ValueError, "chunk: larger than a png image can be");
        goto done;
    }
    size_t filtered_len = (n + 1) * height;
    deflater = libdeflate_alloc_compressor(level);
    filtered = malloc(filtered_len);
    scratch = malloc(4 * n);
    if (deflater == NULL || filtered == NULL || scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    size_t bound = libdeflate_zlib_compress_bound(deflater, filtered_len), len;
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(bound + 41 + 16));
    if (result == NULL) goto done;
    unsigned char *file = (unsigned char *)PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    len = encode_into(&c, deflater, filtered, filtered_len, scratch, file, bound);
    Py_END_ALLOW_THREADS
    if (len == 0) {
        PyErr_SetString(PyExc_ValueError, "chunk: its compressed rows do not fit one png chunk");
        Py_CLEAR(result);
    } else {
        _PyBytes_Resize(&result, (Py_ssize_t)len);
    }
done:
    free(scratch);
    free(filtered);
    if (deflater != NULL) libdeflate_free_compressor(deflater);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *py_decode_rows(PyObject *self, PyObject *args) {
    (void)self;
    return decode_rows_call(args, run, 0x7fffffff);
}

static PyMethodDef methods[] = {
    {"decode_rows", py_decode_rows, METH_VARARGS,
     "decode_rows(data, out, size, origin) -> bool\n\n"
     "Decode into `out` (a writable 4-D uint8 or uint16 view [x, y, z, c], 1 to 4 channels)\n"
     "the box at chunk-local voxel `origin` (x, y, z) of the png chunk of `size` (x, y, z) in\n"
     "`data`, unfiltering no row after the last the box needs. False, with nothing written,\n"
     "for images this decoder does not read (see the module); ValueError for corrupt streams."},
    {"encode", py_encode, METH_VARARGS,
     "encode(chunk, level) -> bytes\n\n"
     "The png file of `chunk` (a 4-D uint8 or uint16 array [x, y, z, c], 1 to 4 channels,\n"
     "any strides): width x, height y*z, each row with the filter of least cost, one IDAT\n"
     "chunk compressed by libdeflate at `level` (0-12)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pngrows",
    "Encodes png chunks, and decodes them whole or the rows a box needs.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pngrows(void) { return PyModule_Create(&module); }
