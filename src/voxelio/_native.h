/*
 * What voxelio's C extensions (src/voxelio/codecs/_cseg.c, _boxcopy.c, _rows.h,
 * src/voxelio/storage/_boxread.c) share: argument checks, and the copy of rows into a large
 * output array.
 */
#ifndef VOXELIO_NATIVE_H
#define VOXELIO_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* Copy n bytes from src to dst; with `stream` (and SSE2), bypassing the caches for all but
 * the unaligned ends (the caller decides when that pays: see voxelio/streaming.py). A copy
 * that streamed ends with copy_done(). */
static inline void copy_bytes(char *dst, const char *src, size_t n, int stream) {
#if defined(__SSE2__)
    if (stream && n >= 64) {
        size_t head = (16 - ((uintptr_t)dst & 15)) & 15;
        memcpy(dst, src, head);
        size_t i = head;
        for (; i + 64 <= n; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
            _mm_stream_si128((__m128i *)(dst + i), a);
            _mm_stream_si128((__m128i *)(dst + i + 16), b);
            _mm_stream_si128((__m128i *)(dst + i + 32), c);
            _mm_stream_si128((__m128i *)(dst + i + 48), d);
        }
        for (; i + 16 <= n; i += 16)
            _mm_stream_si128((__m128i *)(dst + i), _mm_loadu_si128((const __m128i *)(src + i)));
        memcpy(dst + i, src + i, n - i);
        return;
    }
#else
    (void)stream;
#endif
    memcpy(dst, src, n);
}

/* Make the stores of streamed copies visible to every thread before the data is handed on. */
static inline void copy_done(void) {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

#endif
