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
 * Every libjpeg error, and every warning (a truncated or corrupt stream), raises ValueError;
 * the output is then undefined.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

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

typedef struct {
    Py_ssize_t size[3];   /* the chunk: x, y, z */
    Py_ssize_t origin[3]; /* where the box starts in it */
    Py_ssize_t extent[3]; /* the box (out's first three axes) */
    Py_ssize_t channels;
    char *out;
    Py_ssize_t strides[4];
} rows_job;

/* Copy decoded image row `row` (channels interleaved) into out, if the box needs it. */
static void copy_row(const rows_job *job, const JSAMPLE *pixels, Py_ssize_t row) {
    Py_ssize_t y = row % job->size[1] - job->origin[1];
    Py_ssize_t z = row / job->size[1] - job->origin[2];
    if (y < 0 || y >= job->extent[1] || z < 0 || z >= job->extent[2]) return;
    const JSAMPLE *src = pixels + job->origin[0] * job->channels;
    char *dst = job->out + y * job->strides[1] + z * job->strides[2];
    if (job->channels == 1 && (job->strides[0] == 1 || job->extent[0] == 1)) {
        memcpy(dst, src, (size_t)job->extent[0]);
        return;
    }
    for (Py_ssize_t x = 0; x < job->extent[0]; x++)
        for (Py_ssize_t c = 0; c < job->channels; c++)
            dst[x * job->strides[0] + c * job->strides[3]] = (char)src[x * job->channels + c];
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
    Py_ssize_t last = (job->origin[2] + job->extent[2] - 1) * sy + y0 + ny; /* past the box */
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
        if (want == row)
            for (JDIMENSION i = 0; i < got; i++) copy_row(job, rows[i], row + i);
    }
    jpeg_abort_decompress(cinfo);
    return 0;
}

/* Read the header and check it against the chunk; 1 when the image is not the chunk's
 * width x (y*z) layout (the caller decodes it whole), 0 when it is, -1 on errors. */
static int read_header(struct jpeg_decompress_struct *cinfo, error_mgr *err, const rows_job *job,
                       const char **problem) {
    if (setjmp(err->escape)) return -1;
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

/* Decode the box from the jpeg stream; 0 done, 1 other layout, -1 failed (message set). */
static int run(const unsigned char *data, size_t len, const rows_job *job, char *message,
               size_t message_len) {
    struct jpeg_decompress_struct cinfo;
    error_mgr err;
    const char *problem = NULL;
    JSAMPLE *scratch = NULL;
    int result;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = on_error;
    err.base.emit_message = on_message;
    err.message[0] = '\0';
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    result = read_header(&cinfo, &err, job, &problem);
    if (result == 0) {
        scratch = malloc((size_t)(BATCH_ROWS * job->size[0] * job->channels));
        if (scratch == NULL) {
            problem = "out of memory";
            result = -1;
        } else {
            result = decode_box(&cinfo, &err, job, scratch);
        }
    }
    if (result < 0) snprintf(message, message_len, "%s", problem ? problem : err.message);
    free(scratch);
    jpeg_destroy_decompress(&cinfo);
    return result;
}

static int parse3(PyObject *seq, Py_ssize_t *dst, const char *what) {
    if (!PyArg_ParseTuple(seq, "nnn", &dst[0], &dst[1], &dst[2])) return -1;
    for (int i = 0; i < 3; i++)
        if (dst[i] < 0) return PyErr_Format(PyExc_ValueError, "%s: negative value", what), -1;
    return 0;
}

/* The job from the arguments; 0, or -1 with an exception set. */
static int make_job(rows_job *job, const Py_buffer *out, PyObject *size, PyObject *origin) {
    if (parse3(size, job->size, "size") < 0 || parse3(origin, job->origin, "origin") < 0) return -1;
    if (out->ndim != 4 || out->itemsize != 1)
        return PyErr_SetString(PyExc_ValueError, "out: expected a 4-D uint8 array"), -1;
    job->channels = out->shape[3];
    if (job->channels != 1 && job->channels != 3)
        return PyErr_SetString(PyExc_ValueError, "out: expected 1 or 3 channels"), -1;
    for (int i = 0; i < 4; i++) job->strides[i] = out->strides[i];
    for (int i = 0; i < 3; i++) {
        job->extent[i] = out->shape[i];
        if (job->origin[i] + job->extent[i] > job->size[i])
            return PyErr_SetString(PyExc_ValueError, "the box ends outside the chunk"), -1;
    }
    if (job->size[0] > JPEG_MAX_DIMENSION || job->size[2] == 0
        || job->size[1] > JPEG_MAX_DIMENSION / (job->size[2] ? job->size[2] : 1))
        return PyErr_SetString(PyExc_ValueError, "size: not a jpeg image's"), -1;
    job->out = out->buf;
    return 0;
}

static PyObject *py_decode_rows(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data = {0}, out = {0};
    PyObject *size, *origin, *result = NULL;
    PyObject *out_obj;
    if (!PyArg_ParseTuple(args, "y*OOO", &data, &out_obj, &size, &origin)) return NULL;
    rows_job job;
    char message[JMSG_LENGTH_MAX + 64];
    int status;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_STRIDES | PyBUF_WRITABLE) < 0) goto done;
    if (make_job(&job, &out, size, origin) < 0) goto done;
    if (job.extent[0] == 0 || job.extent[1] == 0 || job.extent[2] == 0) {
        result = Py_NewRef(Py_True);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    status = run(data.buf, (size_t)data.len, &job, message, sizeof message);
    Py_END_ALLOW_THREADS
    if (status < 0) {
        PyErr_SetString(PyExc_ValueError, message);
        goto done;
    }
    result = PyBool_FromLong(status == 0);
done:
    if (out.obj) PyBuffer_Release(&out);
    PyBuffer_Release(&data);
    return result;
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
