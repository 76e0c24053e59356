/*
 * Decodes png chunks, whole or the rows a box needs, straight into the box: voxelio's own png
 * decoder, with libdeflate for the zlib stream.
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

/* The Paeth predictor of left a, above b, upper left c, without branches (each byte of a row
 * waits for the one before it, so a mispredicted branch costs every byte). */
static inline int paeth(int a, int b, int c) {
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    int take_b = -(pb <= pc), take_a = -((pa <= pb) & (pa <= pc));
    int bc = (b & take_b) | (c & ~take_b);
    return (a & take_a) | (bc & ~take_a);
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
        if (job->itemsize == 2) { /* big-endian samples: swap them beside the row */
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
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pngrows",
    "Decodes png chunks, whole or the rows a box needs (see decode_rows).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pngrows(void) { return PyModule_Create(&module); }
