/*
 * Decodes the rows of a jpeg chunk that a box needs, straight into the box, written for
 * voxelio with libjpeg-turbo.
 *
 * A jpeg chunk [x, y, z, c] is an image of width x and height y*z (row r holds y = r % Y and
 * z = r / Y), channels interleaved. A box [x0, x0+nx) x [y0, y0+ny) x [z0, z0+nz) needs rows
 * z0*Y + y0 to (z0+nz-1)*Y + y0+ny-1 only: decode_rows() skips the rows before them (libjpeg
 * still reads their entropy-coded data, but does no inverse DCT for them), skips long runs
 * between the bands of consecutive z-planes the same way, and stops after the last needed
 * row. Decoding, skipping and copying run without the GIL.
 *
 * A stream that does not end with the end-of-image marker is declined (decode_rows() answers
 * False and the caller decodes it whole), so that a truncated chunk fails whichever part is
 * read. Every libjpeg error, and every warning (a corrupt stream), raises ValueError; the
 * output is then undefined.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

#include "_rows.h"

/* Runs of unneeded rows at least this long are skipped rather than decoded and dropped. */
#define SKIP_AT_LEAST 16
/* Rows decoded per call into the scratch buffer. */
#define BATCH_ROWS 16

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char message[JMSG_LENGTH_MAX];
} error_mgr;

static void on_error(j_common_ptr cinfo) {
    error_mgr *err = (error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->escape, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0) on_error(cinfo); /* a warning: the stream is corrupt or truncated */
}

/* The first row at or after `row` that the box needs (rows past the box: the image height). */
static Py_ssize_t next_needed(const rows_job *job, Py_ssize_t row) {
    Py_ssize_t sy = job->size[1];
    Py_ssize_t z = row / sy, y = row % sy;
    if (y >= job->origin[1] + job->extent[1]) z += 1, y = job->origin[1];
    if (y < job->origin[1]) y = job->origin[1];
    if (z < job->origin[2]) z = job->origin[2], y = job->origin[1];
    if (z >= job->origin[2] + job->extent[2]) return job->size[2] * sy;
    return z * sy + y;
}

/* Decode the needed rows; 0, or -1 after a libjpeg error (message in err). */
static int decode_box(struct jpeg_decompress_struct *cinfo, error_mgr *err, const rows_job *job,
                      JSAMPLE *scratch) {
    if (setjmp(err->escape)) return -1;
    jpeg_start_decompress(cinfo);
    Py_ssize_t sy = job->size[1], y0 = job->origin[1], ny = job->extent[1];
    Py_ssize_t row_bytes = job->size[0] * job->channels;
    JSAMPROW rows[BATCH_ROWS];
    for (int i = 0; i < BATCH_ROWS; i++) rows[i] = scratch + i * row_bytes;
    Py_ssize_t last = rows_end(job);
    while ((Py_ssize_t)cinfo->output_scanline < last) {
        Py_ssize_t row = cinfo->output_scanline;
        Py_ssize_t want = next_needed(job, row);
        if (want - row >= SKIP_AT_LEAST) {
            jpeg_skip_scanlines(cinfo, (JDIMENSION)(want - row));
            continue;
        }
        /* a band's rows, or a short gap's, which are decoded and dropped */
        Py_ssize_t stop = want > row ? want : (row / sy) * sy + y0 + ny;
        Py_ssize_t batch = stop - row < BATCH_ROWS ? stop - row : BATCH_ROWS;
        JDIMENSION got = jpeg_read_scanlines(cinfo, rows, (JDIMENSION)batch);
        if (got == 0) {
            snprintf(err->message, sizeof err->message, "the image data ended early");
            return -1;
        }
        if (want == row) /* a band's rows: all needed */
            for (JDIMENSION i = 0; i < got; i++) copy_row(job, rows[i], row + i);
    }
    return 0; /* jpeg_destroy_decompress, which follows, ends the decompression */
}

/* Start decompressing and read the header (libjpeg's errors are caught from the start); 1
 * when the caller should decode the image whole: the stream does not end with the
 * end-of-image marker (a truncated chunk then fails whichever part is read, as a part would
 * not reach the truncation), or the image is not the chunk's width x (y*z) layout. 0 when it
 * can go on, -1 on errors. */
static int read_header(struct jpeg_decompress_struct *cinfo, error_mgr *err, const rows_job *job,
                       const unsigned char *data, size_t len, const char **problem) {
    if (setjmp(err->escape)) return -1;
    jpeg_create_decompress(cinfo);
    if (len < 2 || data[len - 2] != 0xFF || data[len - 1] != 0xD9) return 1;
    jpeg_mem_src(cinfo, data, (unsigned long)len);
    jpeg_read_header(cinfo, TRUE);
    int gray = cinfo->jpeg_color_space == JCS_GRAYSCALE;
    if (gray != (job->channels == 1)) {
        *problem = "the image's colour space does not fit the layer's channels";
        return -1;
    }
    cinfo->out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    if ((Py_ssize_t)cinfo->image_width != job->size[0]
        || (Py_ssize_t)cinfo->image_height != job->size[1] * job->size[2])
        return 1;
    return 0;
}

/* The rows_decoder of jpeg streams. */
static int run(const unsigned char *data, size_t len, const rows_job *job, char *message) {
    struct jpeg_decompress_struct cinfo = {0}; /* destroyable even if creating it fails */
    error_mgr err;
    const char *problem = NULL;
    JSAMPLE *scratch = NULL;
    int result;
    if (job->itemsize != 1 || (job->channels != 1 && job->channels != 3)) {
        snprintf(message, ROWS_MESSAGE, "out: expected uint8 samples, 1 or 3 channels");
        return -1;
    }
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = on_error;
    err.base.emit_message = on_message;
    err.message[0] = '\0';
    result = read_header(&cinfo, &err, job, data, len, &problem);
    if (result == 0) {
        scratch = malloc((size_t)(BATCH_ROWS * job->size[0] * job->channels));
        if (scratch == NULL) {
            problem = "out of memory";
            result = -1;
        } else {
            result = decode_box(&cinfo, &err, job, scratch);
        }
    }
    if (result < 0) snprintf(message, ROWS_MESSAGE, "%s", problem ? problem : err.message);
    free(scratch);
    jpeg_destroy_decompress(&cinfo);
    return result;
}

static PyObject *py_decode_rows(PyObject *self, PyObject *args) {
    (void)self;
    return decode_rows_call(args, run, JPEG_MAX_DIMENSION);
}

static PyMethodDef methods[] = {
    {"decode_rows", py_decode_rows, METH_VARARGS,
     "decode_rows(data, out, size, origin) -> bool\n\n"
     "Decode into `out` (a writable 4-D uint8 view [x, y, z, c], 1 or 3 channels) the box\n"
     "at chunk-local voxel `origin` (x, y, z) of the jpeg chunk of `size` (x, y, z) in `data`,\n"
     "decoding only the image rows the box needs. False, with nothing written, when the\n"
     "image is not `size`'s width x by height y*z; ValueError for corrupt or truncated\n"
     "streams and colour spaces that do not fit the channels."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_jpegrows",
    "Decodes the rows of a jpeg chunk that a box needs (see decode_rows).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jpegrows(void) { return PyModule_Create(&module); }
