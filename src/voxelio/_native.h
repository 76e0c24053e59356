/*
 * Argument checks shared by voxelio's C extensions (src/voxelio/codecs/_cseg.c, _rows.h,
 * src/voxelio/storage/_boxread.c).
 */
#ifndef VOXELIO_NATIVE_H
#define VOXELIO_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A tuple of `n` non-negative integers into `dst`: 0, or -1 with TypeError (not such a tuple)
 * or ValueError (a negative value). */
static int parse_ints(PyObject *obj, Py_ssize_t *dst, Py_ssize_t n, const char *what) {
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != n) {
        PyErr_Format(PyExc_TypeError, "%s must be a tuple of %zd integers", what, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        dst[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(obj, i));
        if (dst[i] == -1 && PyErr_Occurred()) return -1;
        if (dst[i] < 0) {
            PyErr_Format(PyExc_ValueError, "%s: negative value", what);
            return -1;
        }
    }
    return 0;
}

/* Whether a box of `extent` at `origin` lies inside `size` on each of `n` axes (all three
 * non-negative; written so that no sum can overflow). */
static int box_inside(const Py_ssize_t *origin, const Py_ssize_t *extent, const Py_ssize_t *size,
                      int n) {
    for (int i = 0; i < n; i++)
        if (extent[i] > size[i] || origin[i] > size[i] - extent[i]) return 0;
    return 1;
}

#endif
