/*
 * Decodes the rows of a png chunk that a box needs, straight into the box, written for voxelio
 * with libpng.
 *
 * A png chunk [x, y, z, c] is an image of width x and height y*z (row r holds y = r % Y and
 * z = r / Y), channels interleaved, samples of 8 or 16 bits. A box [x0, x0+nx) x [y0, y0+ny) x
 * [z0, z0+nz) needs rows up to (z0+nz-1)*Y + y0+ny-1 only. Each png row is filtered against
 * the one before it, so every row up to the last needed one is decoded, but none after it.
 * Decoding and copying run without the GIL.
 *
 * Only plain images are decoded here: not interlaced, gray, gray+alpha, RGB or RGBA, no
 * palette, no transparency chunk, samples as wide as the layer's. decode_rows() answers False
 * for any other image (and for an image not x by y*z), which the caller decodes whole. libpng
 * errors (corrupt data, bad checksums) raise ValueError; the output is then undefined.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <png.h>

#include "_rows.h"

typedef struct {
    const unsigned char *data;
    size_t len;
    size_t pos;
    char message[256];
} source;

static void on_error(png_structp png, png_const_charp message) {
    source *src = (source *)png_get_error_ptr(png);
    snprintf(src->message, sizeof src->message, "%s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message; /* as the whole decoders: ancillary oddities are not errors */
}

static void read_bytes(png_structp png, png_bytep dst, size_t len) {
    source *src = (source *)png_get_io_ptr(png);
    if (len > src->len - src->pos) png_error(png, "the image data ended early");
    memcpy(dst, src->data + src->pos, len);
    src->pos += len;
}

/* Whether the image is one this decoder reads as the layer stores it. */
static int plain_image(png_structp png, png_infop info, const rows_job *job) {
    int channels;
    switch (png_get_color_type(png, info)) {
    case PNG_COLOR_TYPE_GRAY: channels = 1; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: channels = 2; break;
    case PNG_COLOR_TYPE_RGB: channels = 3; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: channels = 4; break;
    default: return 0;
    }
    return channels == job->channels && png_get_bit_depth(png, info) == 8 * job->itemsize
           && png_get_interlace_type(png, info) == PNG_INTERLACE_NONE
           && !png_get_valid(png, info, PNG_INFO_tRNS)
           && (Py_ssize_t)png_get_image_width(png, info) == job->size[0]
           && (Py_ssize_t)png_get_image_height(png, info) == job->size[1] * job->size[2];
}

/* Decode rows up to the box's last; 0 done, 1 not a plain image, -1 failed (src->message). */
static int decode_box(png_structp png, png_infop info, const rows_job *job, unsigned char **row) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_read_info(png, info);
    if (!plain_image(png, info, job)) return 1;
    if (job->itemsize == 2) {
        const unsigned short probe = 1;
        if (*(const unsigned char *)&probe == 1) png_set_swap(png); /* png is big-endian */
    }
    png_read_update_info(png, info);
    *row = malloc(png_get_rowbytes(png, info));
    if (*row == NULL) png_error(png, "out of memory");
    Py_ssize_t last = rows_end(job);
    for (Py_ssize_t r = 0; r < last; r++) {
        png_read_row(png, *row, NULL);
        copy_row(job, *row, r);
    }
    return 0;
}

/* The rows_decoder of png streams. */
static int run(const unsigned char *data, size_t len, const rows_job *job, char *message) {
    if ((job->itemsize != 1 && job->itemsize != 2) || job->channels < 1 || job->channels > 4) {
        snprintf(message, ROWS_MESSAGE, "out: expected uint8 or uint16 samples, 1 to 4 channels");
        return -1;
    }
    source src = {data, len, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (info == NULL) {
        snprintf(message, ROWS_MESSAGE, "out of memory");
        png_destroy_read_struct(&png, NULL, NULL);
        return -1;
    }
    png_set_read_fn(png, &src, read_bytes);
    unsigned char *row = NULL;
    int result = decode_box(png, info, job, &row);
    if (result < 0) snprintf(message, ROWS_MESSAGE, "%s", src.message);
    free(row);
    png_destroy_read_struct(&png, &info, NULL);
    return result;
}

static PyObject *py_decode_rows(PyObject *self, PyObject *args) {
    (void)self;
    return decode_rows_call(args, run, PNG_UINT_31_MAX);
}

static PyMethodDef methods[] = {
    {"decode_rows", py_decode_rows, METH_VARARGS,
     "decode_rows(data, out, size, origin) -> bool\n\n"
     "Decode into `out` (a writable 4-D uint8 or uint16 view [x, y, z, c], 1 to 4 channels)\n"
     "the box at chunk-local voxel `origin` (x, y, z) of the png chunk of `size` (x, y, z) in\n"
     "`data`, decoding no row after the last the box needs. False, with nothing written, for\n"
     "images this decoder does not read (see the module); ValueError for corrupt streams."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pngrows",
    "Decodes the rows of a png chunk that a box needs (see decode_rows).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pngrows(void) { return PyModule_Create(&module); }
