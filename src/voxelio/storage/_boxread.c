/*
 * Reads a box of an array stored plainly in a local file, written for voxelio.
 *
 * The file holds a Fortran-ordered [x, y, z, c] array with no header (a raw chunk). read_box()
 * copies the part of it that starts at voxel (x0, y0, z0) and has the extent of `out` (an
 * array view whose x axis is contiguous) into `out`, every channel. It reads only the rows it
 * needs: for each z-plane (and channel) the band of rows y0..y0+ny, or, when little lies
 * between the bands of consecutive planes, as many planes as fit in the caller's scratch
 * buffer at once. The open, the reads and the copies all run without the GIL.
 *
 * It answers False, having written nothing the caller may trust, when the file is missing,
 * is not a regular file, holds another number of bytes than expected or shrinks while it is
 * read: the caller's general path then reads the object as a whole and reports what is wrong.
 * Other failures of the system calls raise OSError naming the file.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../_native.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* Rows between two planes' bands that cost less to read along than a read of their own (a
 * system call costs about as much as copying this many bytes from the page cache). */
#define MERGE_GAP_BYTES 8192

/* What a read came to, besides success. */
enum outcome { DONE = 0, FALL_BACK = 1, FAILED = 2 };

typedef struct {
    Py_ssize_t shape[4];  /* the stored array: x, y, z, channels */
    Py_ssize_t origin[3]; /* where the box starts in it */
    Py_ssize_t extent[3]; /* the box's size (out's first three axes) */
    Py_ssize_t itemsize;
    char *out;
    Py_ssize_t out_strides[4];
    char *scratch;
    Py_ssize_t scratch_len;
    int stream; /* bypass the caches (see voxelio/streaming.py) */
} box_job;

/* pread until `len` bytes are in or the file ends; the bytes read, or -1 with errno set. */
static Py_ssize_t read_full(int fd, char *dst, Py_ssize_t len, off_t offset) {
    Py_ssize_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, dst + got, (size_t)(len - got), offset + got);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) break;
        got += n;
    }
    return got;
}

/* Copy `planes` bands of rows (rows of the stored x extent; band p starts at src + p *
 * plane_stride) into out, starting at out's plane `z` of channel `c`. */
static void copy_bands(const box_job *job, const char *src, Py_ssize_t plane_stride, Py_ssize_t z,
                       Py_ssize_t planes, Py_ssize_t c) {
    Py_ssize_t row_bytes = job->shape[0] * job->itemsize;
    Py_ssize_t want = job->extent[0] * job->itemsize;
    const char *first = src + job->origin[0] * job->itemsize;
    for (Py_ssize_t p = 0; p < planes; p++) {
        char *dst_plane = job->out + (z + p) * job->out_strides[2] + c * job->out_strides[3];
        const char *src_plane = first + p * plane_stride;
        for (Py_ssize_t y = 0; y < job->extent[1]; y++)
            copy_bytes(dst_plane + y * job->out_strides[1], src_plane + y * row_bytes,
                       (size_t)want, job->stream);
    }
}

/* Read and copy the box from an open file. Consecutive planes are read together, rows
 * between their bands included, when those rows are fewer bytes than a read costs. */
static enum outcome read_planes(int fd, const box_job *job) {
    Py_ssize_t row_bytes = job->shape[0] * job->itemsize;
    Py_ssize_t plane_bytes = job->shape[1] * row_bytes;
    Py_ssize_t nz = job->extent[2];
    if (job->extent[0] == 0 || job->extent[1] == 0 || nz == 0) return DONE;
    Py_ssize_t band = job->extent[1] * row_bytes;
    Py_ssize_t step = 1; /* planes per read: k of them span (k - 1) planes and a band */
    if (plane_bytes - band <= MERGE_GAP_BYTES) step += (job->scratch_len - band) / plane_bytes;
    for (Py_ssize_t c = 0; c < job->shape[3]; c++) {
        for (Py_ssize_t z = 0; z < nz; z += step) {
            Py_ssize_t planes = nz - z < step ? nz - z : step;
            off_t offset = (off_t)(((c * job->shape[2] + job->origin[2] + z) * job->shape[1]
                                    + job->origin[1]) * row_bytes);
            Py_ssize_t len = (planes - 1) * plane_bytes + band;
            Py_ssize_t got = read_full(fd, job->scratch, len, offset);
            if (got < 0) return FAILED;
            if (got < len) return FALL_BACK; /* the file shrank */
            copy_bands(job, job->scratch, plane_bytes, z, planes, c);
        }
    }
    return DONE;
}

/* Open, check and read; errno tells a FAILED outcome's cause. */
static enum outcome read_file_box(const char *path, Py_ssize_t size, const box_job *job) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return (errno == ENOENT || errno == ENOTDIR) ? FALL_BACK : FAILED;
    struct stat info;
    enum outcome result;
    if (fstat(fd, &info) != 0)
        result = FAILED;
    else if (!S_ISREG(info.st_mode) || info.st_size != (off_t)size)
        result = FALL_BACK;
    else
        result = read_planes(fd, job);
    if (job->stream) copy_done(); /* whatever the outcome: the fallback may write out too */
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}

/* The job's geometry checked against the buffers; 0, or -1 with ValueError set. */
static int check_job(box_job *job, const Py_buffer *out, Py_ssize_t size) {
    if (out->ndim != 4 || out->itemsize != job->itemsize)
        return PyErr_SetString(PyExc_ValueError, "out: expected a 4-D array of the itemsize"), -1;
    if (out->shape[0] > 1 && out->strides[0] != job->itemsize)
        return PyErr_SetString(PyExc_ValueError, "out: the x axis must be contiguous"), -1;
    if (out->shape[3] != job->shape[3])
        return PyErr_SetString(PyExc_ValueError, "out: expected every channel"), -1;
    for (int i = 0; i < 3; i++) job->extent[i] = out->shape[i];
    if (!box_inside(job->origin, job->extent, job->shape, 3))
        return PyErr_SetString(PyExc_ValueError, "the box ends outside the array"), -1;
    Py_ssize_t total = job->itemsize;
    for (int i = 0; i < 4; i++) {
        if (job->shape[i] != 0 && total > PY_SSIZE_T_MAX / job->shape[i])
            return PyErr_SetString(PyExc_ValueError, "shape: too large"), -1;
        total *= job->shape[i];
        job->out_strides[i] = out->strides[i];
    }
    if (total != size)
        return PyErr_SetString(PyExc_ValueError, "size: not the array's byte count"), -1;
    if (job->scratch_len < job->extent[1] * job->shape[0] * job->itemsize)
        return PyErr_SetString(PyExc_ValueError, "scratch: smaller than one band of rows"), -1;
    return 0;
}

static PyObject *py_read_box(PyObject *self, PyObject *args) {
    PyObject *path_obj = NULL, *shape_obj, *origin_obj, *out_obj, *scratch_obj;
    Py_ssize_t size, itemsize;
    int stream = 0;
    if (!PyArg_ParseTuple(args, "O&nOnOOO|p", PyUnicode_FSConverter, &path_obj, &size,
                          &shape_obj, &itemsize, &origin_obj, &out_obj, &scratch_obj, &stream))
        return NULL;
    box_job job;
    Py_buffer out = {0}, scratch = {0};
    PyObject *result = NULL;
    if (itemsize <= 0) {
        PyErr_SetString(PyExc_ValueError, "itemsize: must be positive");
        goto done;
    }
    job.itemsize = itemsize;
    if (parse_ints(shape_obj, job.shape, 4, "shape") < 0) goto done;
    if (parse_ints(origin_obj, job.origin, 3, "origin") < 0) goto done;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_STRIDES | PyBUF_WRITABLE) < 0)
        goto done;
    if (PyObject_GetBuffer(scratch_obj, &scratch, PyBUF_SIMPLE | PyBUF_WRITABLE) < 0) goto done;
    job.out = out.buf;
    job.scratch = scratch.buf;
    job.scratch_len = scratch.len;
    job.stream = stream;
    if (check_job(&job, &out, size) < 0) goto done;
    const char *path = PyBytes_AS_STRING(path_obj);
    enum outcome outcome;
    int err;
    Py_BEGIN_ALLOW_THREADS
    outcome = read_file_box(path, size, &job);
    err = errno;
    Py_END_ALLOW_THREADS
    if (outcome == FAILED) {
        errno = err;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path_obj);
        goto done;
    }
    result = PyBool_FromLong(outcome == DONE);
done:
    if (out.obj) PyBuffer_Release(&out);
    if (scratch.obj) PyBuffer_Release(&scratch);
    Py_XDECREF(path_obj);
    return result;
}

static PyMethodDef methods[] = {
    {"read_box", py_read_box, METH_VARARGS,
     "read_box(path, size, shape, itemsize, origin, out, scratch, stream=False) -> bool\n\n"
     "Copy the box of the Fortran-ordered [x, y, z, c] array stored in the file `path` (size\n"
     "bytes, shape (x, y, z, c) of itemsize-byte values) that starts at voxel origin (x, y, z)\n"
     "into `out` (a writable 4-D view with out's extent, every channel, x contiguous), using\n"
     "`scratch` (a writable buffer of at least one band of rows) for the reads; with `stream`,\n"
     "bypassing the CPU caches. False when the file is missing, not a regular file, not `size`\n"
     "bytes long or shrinks meanwhile (out is then undefined); OSError for other failures."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_boxread",
    "Reads a box of an array stored plainly in a local file (see read_box).", -1, methods,
};

PyMODINIT_FUNC PyInit__boxread(void) { return PyModule_Create(&module); }
