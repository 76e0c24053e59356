/*
 * What voxelio's row decoders of image chunks (_jpegrows.c, _pngrows.c) share: the box to
 * decode, the copy of a decoded image row into it, and the Python entry point.
 *
 * An image chunk [x, y, z, c] is an image of width x and height y*z (row r holds y = r % Y and
 * z = r / Y), channels interleaved. A decoder gets the stream and a rows_job, decodes the rows
 * the box needs (rows_end() is one past the last) and hands each to copy_row().
 */
#ifndef VOXELIO_ROWS_H
#define VOXELIO_ROWS_H

#include <string.h>

#include "../_native.h"

/* Room for a decoder's error message. */
#define ROWS_MESSAGE 320

typedef struct {
    Py_ssize_t size[3];   /* the chunk: x, y, z */
    Py_ssize_t origin[3]; /* where the box starts in it */
    Py_ssize_t extent[3]; /* the box (out's first three axes) */
    Py_ssize_t channels;  /* out's fourth axis, every channel of the image */
    Py_ssize_t itemsize;  /* bytes per sample */
    char *out;
    Py_ssize_t strides[4];
} rows_job;

/* Decode the box of `job` from the stream: 0 done, 1 the image is not one this decoder reads
 * (nothing written), -1 failed (`message` says why). Runs without the GIL. */
typedef int (*rows_decoder)(const unsigned char *data, size_t len, const rows_job *job,
                            char *message);

/* One past the last image row the box needs. */
static inline Py_ssize_t rows_end(const rows_job *job) {
    return (job->origin[2] + job->extent[2] - 1) * job->size[1] + job->origin[1]
           + job->extent[1];
}

/* Whether the box needs image row `row`. */
static inline int row_needed(const rows_job *job, Py_ssize_t row) {
    Py_ssize_t y = row % job->size[1] - job->origin[1];
    Py_ssize_t z = row / job->size[1] - job->origin[2];
    return y >= 0 && y < job->extent[1] && z >= 0 && z < job->extent[2];
}

/* Copy decoded image row `row` (samples interleaved, native byte order), which the box
 * needs, into out. */
static void copy_row(const rows_job *job, const unsigned char *pixels, Py_ssize_t row) {
    Py_ssize_t y = row % job->size[1] - job->origin[1];
    Py_ssize_t z = row / job->size[1] - job->origin[2];
    Py_ssize_t pixel = job->channels * job->itemsize;
    const unsigned char *src = pixels + job->origin[0] * pixel;
    char *dst = job->out + y * job->strides[1] + z * job->strides[2];
    if (job->channels == 1 && (job->strides[0] == job->itemsize || job->extent[0] == 1)) {
        memcpy(dst, src, (size_t)(job->extent[0] * job->itemsize));
        return;
    }
    for (Py_ssize_t x = 0; x < job->extent[0]; x++)
        for (Py_ssize_t c = 0; c < job->channels; c++)
            memcpy(dst + x * job->strides[0] + c * job->strides[3],
                   src + x * pixel + c * job->itemsize, (size_t)job->itemsize);
}

/* The job from the arguments, for images of sides up to `max_side`; 0, or -1 with an
 * exception set. */
static int make_job(rows_job *job, const Py_buffer *out, PyObject *size, PyObject *origin,
                    Py_ssize_t max_side) {
    if (parse_ints(size, job->size, 3, "size") < 0 || parse_ints(origin, job->origin, 3, "origin") < 0)
        return -1;
    if (out->ndim != 4)
        return PyErr_SetString(PyExc_ValueError, "out: expected a 4-D array"), -1;
    job->itemsize = out->itemsize;
    job->channels = out->shape[3];
    for (int i = 0; i < 4; i++) job->strides[i] = out->strides[i];
    for (int i = 0; i < 3; i++) job->extent[i] = out->shape[i];
    if (!box_inside(job->origin, job->extent, job->size, 3))
        return PyErr_SetString(PyExc_ValueError, "the box ends outside the chunk"), -1;
    if (job->size[0] > max_side || job->size[2] == 0 || job->size[1] > max_side / job->size[2])
        return PyErr_SetString(PyExc_ValueError, "size: larger than an image can be"), -1;
    job->out = out->buf;
    return 0;
}

/* decode_rows(data, out, size, origin) -> bool, with `decode` doing the work. */
static PyObject *decode_rows_call(PyObject *args, rows_decoder decode, Py_ssize_t max_side) {
    Py_buffer data = {0}, out = {0};
    PyObject *out_obj, *size, *origin, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*OOO", &data, &out_obj, &size, &origin)) return NULL;
    rows_job job;
    char message[ROWS_MESSAGE];
    int status;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_STRIDES | PyBUF_WRITABLE) < 0) goto done;
    if (make_job(&job, &out, size, origin, max_side) < 0) goto done;
    if (job.extent[0] == 0 || job.extent[1] == 0 || job.extent[2] == 0) {
        result = Py_NewRef(Py_True);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    status = decode(data.buf, (size_t)data.len, &job, message);
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

#endif
