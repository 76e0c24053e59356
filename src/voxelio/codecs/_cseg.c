/*
 * The compressed_segmentation block codec (one channel), written for voxelio.
 *
 * Format (Neuroglancer precomputed, compressed_segmentation): a channel's stream is an array
 * of little-endian uint32 words. It starts with two header words per block (blocks in x, then
 * y, then z order): word 0 holds the lookup table's offset (low 24 bits) and the bit width of
 * the encoded values (high 8 bits: 0, 1, 2, 4, 8, 16 or 32); word 1 holds the offset of the
 * block's encoded values. Offsets count words from the start of the channel's stream. The
 * encoded values are one table index per voxel of the whole block (x fastest), packed
 * little-endian into words; the table holds the block's distinct labels in ascending order,
 * one or two words each (uint32 or uint64). Identical tables are stored once.
 *
 * decode() checks every offset and index against the stream's length, so a corrupt or
 * truncated stream raises ValueError and never reads outside the buffer. Both functions
 * release the GIL while they work.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../_native.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CSEG_SWAP(w) __builtin_bswap32(w)
#else
#define CSEG_SWAP(w) (w)
#endif

static inline uint32_t load_word(const unsigned char *words, size_t i) {
    uint32_t w;
    memcpy(&w, words + 4 * i, 4);
    return CSEG_SWAP(w);
}

static inline uint64_t load_label(const unsigned char *words, size_t i, int wpl) {
    uint64_t v = load_word(words, i);
    if (wpl == 2) v |= (uint64_t)load_word(words, i + 1) << 32;
    return v;
}

static inline void store_label(char *dst, uint64_t v, int wpl) {
    if (wpl == 2) {
        memcpy(dst, &v, 8);
    } else {
        uint32_t w = (uint32_t)v;
        memcpy(dst, &w, 4);
    }
}

static inline uint64_t read_label(const char *src, int wpl) {
    if (wpl == 2) {
        uint64_t v;
        memcpy(&v, src, 8);
        return v;
    }
    uint32_t w;
    memcpy(&w, src, 4);
    return w;
}

static int valid_bits(uint32_t bits) {
    return bits == 0 || bits == 1 || bits == 2 || bits == 4 || bits == 8 || bits == 16 ||
           bits == 32;
}

/* Bring into the cache one byte per cache line of the rows [0, ny) x [z0, z1) of nx items at
 * base, when x is the contiguous axis. A block codec walks an array block by block, and a
 * block's rows lie far apart in memory, a pattern the hardware prefetcher does not follow:
 * each row would be waited for. Touched row after row first, they are in the cache when the
 * blocks need them (measured on 64^3 uint64 chunks: encoding took 1.9 ms per chunk read
 * cold, 1.2 ms with the labels in the cache, and one pass in memory order 0.2 ms).
 * The input of an encode is read. The output of a decode is only prefetched (with a write
 * hint where the target has one): a read of memory never written maps the shared zero page,
 * and every later write then copies it and flushes the other cores' TLBs (a whole read of a
 * fresh 512 MiB array took 3-4 s instead of 0.2 s where huge pages were not used); a prefetch
 * never faults, and of a page not yet mapped it does nothing. */
static void warm_rows(const char *base, const Py_ssize_t strides[3], Py_ssize_t itemsize,
                      Py_ssize_t nx, Py_ssize_t ny, Py_ssize_t z0, Py_ssize_t z1, int for_write) {
    Py_ssize_t step = strides[0] < 0 ? -strides[0] : strides[0];
    if (step != itemsize) return;
    Py_ssize_t row = step * nx, first = strides[0] < 0 ? row - step : 0;
    for (Py_ssize_t z = z0; z < z1; z++)
        for (Py_ssize_t y = 0; y < ny; y++) {
            const volatile char *p = base + y * strides[1] + z * strides[2] - first;
            for (Py_ssize_t off = 0; off < row; off += 64) {
                if (for_write)
                    __builtin_prefetch((const char *)p + off, 1, 3);
                else
                    (void)p[off]; /* volatile: read */
            }
        }
}

/* ------------------------------------------------------------------------------ decode */

typedef struct {
    const unsigned char *words; /* the channel's stream */
    size_t nwords;
    int wpl;                    /* words per label: 1 or 2 */
    Py_ssize_t size[3];         /* chunk size, voxels */
    Py_ssize_t block[3];        /* block size, voxels */
    Py_ssize_t grid[3];         /* blocks per axis */
    Py_ssize_t lo[3], hi[3];    /* the chunk-local region written to out */
    char *out;
    Py_ssize_t strides[3];      /* out's strides in bytes */
} DecodeJob;

/* The part of one block that a decode writes: rows of nx voxels along x. */
typedef struct {
    char *dst;                 /* where the first voxel goes in out */
    Py_ssize_t nx, ny, nz;     /* voxels per row, rows per slab, slabs */
    Py_ssize_t sx, sy, sz;     /* out's strides, bytes */
    size_t first;              /* the first voxel's position in the block (x fastest) */
    size_t row, slab;          /* voxels per block row and per block slab */
} Rows;

/* Decode the rows of a block. Inlined with constant bits and wpl, so shifts and masks
 * compile to immediates. */
static inline __attribute__((always_inline)) const char *decode_rows(
    const Rows *r, const unsigned char *words, uint32_t values, uint32_t table,
    const uint32_t bits, const int wpl, size_t capacity) {
    const uint32_t mask = bits == 32 ? 0xFFFFFFFFu : ((1u << bits) - 1u);
    for (Py_ssize_t z = 0; z < r->nz; z++) {
        char *row_dst = r->dst + z * r->sz;
        size_t row_first = r->first + (size_t)z * r->slab;
        for (Py_ssize_t y = 0; y < r->ny; y++, row_dst += r->sy, row_first += r->row) {
            char *dst = row_dst;
            size_t bit = row_first * bits;
            for (Py_ssize_t x = 0; x < r->nx; x++, dst += r->sx, bit += bits) {
                uint32_t idx = (load_word(words, values + (bit >> 5)) >> (bit & 31)) & mask;
                if (idx >= capacity)
                    return "a lookup-table index points past the end of the stream";
                store_label(dst, load_label(words, table + (size_t)idx * wpl, wpl), wpl);
            }
        }
    }
    return NULL;
}

static void fill_rows(const Rows *r, uint64_t label, int wpl) {
    for (Py_ssize_t z = 0; z < r->nz; z++)
        for (Py_ssize_t y = 0; y < r->ny; y++) {
            char *dst = r->dst + z * r->sz + y * r->sy;
            for (Py_ssize_t x = 0; x < r->nx; x++, dst += r->sx) store_label(dst, label, wpl);
        }
}

#define DECODE_ROWS_CASE(B, W)                                                               \
    case (B) + 64 * (W):                                                                     \
        return decode_rows(r, words, values, table, B, W, capacity);

/* decode_rows with bits (1 to 32) and wpl as constants. */
static const char *decode_rows_any(const Rows *r, const unsigned char *words, uint32_t values,
                                   uint32_t table, uint32_t bits, int wpl, size_t capacity) {
    switch (bits + 64 * (uint32_t)wpl) {
        DECODE_ROWS_CASE(1, 1) DECODE_ROWS_CASE(2, 1) DECODE_ROWS_CASE(4, 1)
        DECODE_ROWS_CASE(8, 1) DECODE_ROWS_CASE(16, 1) DECODE_ROWS_CASE(32, 1)
        DECODE_ROWS_CASE(1, 2) DECODE_ROWS_CASE(2, 2) DECODE_ROWS_CASE(4, 2)
        DECODE_ROWS_CASE(8, 2) DECODE_ROWS_CASE(16, 2) DECODE_ROWS_CASE(32, 2)
    }
    return "a block header has an invalid bit width";
}

/* Decode the part of block (bx, by, bz) inside the region; an error message or NULL. */
static const char *decode_block(const DecodeJob *j, Py_ssize_t bx, Py_ssize_t by,
                                Py_ssize_t bz) {
    size_t index = (size_t)(bx + j->grid[0] * (by + j->grid[1] * bz));
    uint32_t h0 = load_word(j->words, 2 * index), values = load_word(j->words, 2 * index + 1);
    uint32_t table = h0 & 0xFFFFFFu, bits = h0 >> 24;
    if (!valid_bits(bits)) return "a block header has an invalid bit width";
    size_t bvol = (size_t)(j->block[0] * j->block[1] * j->block[2]);
    if (bits && (size_t)values + (bits * bvol + 31) / 32 > j->nwords)
        return "a block's encoded values run past the end of the stream";
    /* how many labels the table can hold before the stream ends */
    size_t capacity = table <= j->nwords ? (j->nwords - table) / (size_t)j->wpl : 0;
    if (capacity < 1) return "a lookup table lies past the end of the stream";
    Py_ssize_t b0[3] = {bx * j->block[0], by * j->block[1], bz * j->block[2]};
    Py_ssize_t from[3], n[3];
    for (int a = 0; a < 3; a++) {
        from[a] = b0[a] > j->lo[a] ? b0[a] : j->lo[a];
        Py_ssize_t end = b0[a] + j->block[a];
        n[a] = (end < j->hi[a] ? end : j->hi[a]) - from[a];
    }
    Rows r = {
        .dst = j->out + (from[0] - j->lo[0]) * j->strides[0] +
               (from[1] - j->lo[1]) * j->strides[1] + (from[2] - j->lo[2]) * j->strides[2],
        .nx = n[0], .ny = n[1], .nz = n[2],
        .sx = j->strides[0], .sy = j->strides[1], .sz = j->strides[2],
        .first = (size_t)((from[0] - b0[0]) +
                          j->block[0] * ((from[1] - b0[1]) + j->block[1] * (from[2] - b0[2]))),
        .row = (size_t)j->block[0],
        .slab = (size_t)(j->block[0] * j->block[1]),
    };
    if (bits == 0) {
        fill_rows(&r, load_label(j->words, table, j->wpl), j->wpl);
        return NULL;
    }
    /* per-voxel index checks matter only when the largest index could leave the stream */
    int checked = bits == 32 || capacity < ((size_t)1 << bits);
    return decode_rows_any(&r, j->words, values, table, bits, j->wpl,
                           checked ? capacity : SIZE_MAX);
}

static const char *decode_region(const DecodeJob *j) {
    size_t nblocks = (size_t)(j->grid[0] * j->grid[1] * j->grid[2]);
    if (j->nwords < 2 * nblocks) return "the stream is too short for its block headers";
    Py_ssize_t first[3], last[3];
    for (int a = 0; a < 3; a++) {
        first[a] = j->lo[a] / j->block[a];
        last[a] = (j->hi[a] - 1) / j->block[a];
    }
    for (Py_ssize_t bz = first[2]; bz <= last[2]; bz++) {
        Py_ssize_t z0 = bz * j->block[2], z1 = z0 + j->block[2];
        z0 = (z0 > j->lo[2] ? z0 : j->lo[2]) - j->lo[2];
        z1 = (z1 < j->hi[2] ? z1 : j->hi[2]) - j->lo[2];
        warm_rows(j->out, j->strides, 4 * j->wpl, j->hi[0] - j->lo[0], j->hi[1] - j->lo[1],
                  z0, z1, 1);
        for (Py_ssize_t by = first[1]; by <= last[1]; by++)
            for (Py_ssize_t bx = first[0]; bx <= last[0]; bx++) {
                const char *err = decode_block(j, bx, by, bz);
                if (err) return err;
            }
    }
    return NULL;
}

/* Blocks of more voxels than this are refused (offsets are 24 and 32 bits wide anyway). */
#define MAX_BLOCK_VOXELS (1 << 24)
/* Chunks of more blocks than this are refused: their block headers alone would overflow the
 * 32-bit offsets (and the block count would overflow the arithmetic on it). */
#define MAX_BLOCKS ((int64_t)1 << 31)

/* Check chunk size s and block size b; set the grid g of blocks. 0, or -1 with an error. */
static int check_geometry(const Py_ssize_t s[3], const Py_ssize_t b[3], Py_ssize_t g[3]) {
    for (int a = 0; a < 3; a++) {
        if (s[a] < 1 || b[a] < 1) {
            PyErr_SetString(PyExc_ValueError, "chunk and block sizes must be positive");
            return -1;
        }
        if (b[a] > MAX_BLOCK_VOXELS || s[a] > ((Py_ssize_t)1 << 30)) {
            PyErr_SetString(PyExc_ValueError, "chunk or block size too large");
            return -1;
        }
        g[a] = (s[a] + b[a] - 1) / b[a];
    }
    if ((int64_t)b[0] * b[1] * b[2] > MAX_BLOCK_VOXELS) {
        PyErr_SetString(PyExc_ValueError, "blocks of more than 2**24 voxels are not supported");
        return -1;
    }
    /* each g is at most 2**30, so neither product overflows once the first is at most 2**31 */
    int64_t plane = (int64_t)g[0] * g[1];
    if (plane > MAX_BLOCKS || plane * g[2] > MAX_BLOCKS) {
        PyErr_SetString(PyExc_ValueError, "chunks of more than 2**31 blocks are not supported");
        return -1;
    }
    return 0;
}

static int parse_geometry(PyObject *size, PyObject *block, Py_ssize_t s[3], Py_ssize_t b[3],
                          Py_ssize_t g[3]) {
    if (parse_ints(size, s, 3, "size") || parse_ints(block, b, 3, "block")) return -1;
    return check_geometry(s, b, g);
}

/* A 3-D strided buffer of uint32 or uint64 items; its words per label, or -1 with an error. */
static int get_labels_buffer(PyObject *obj, Py_buffer *view, int writable) {
    int flags = PyBUF_STRIDES | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->ndim != 3 || (view->itemsize != 4 && view->itemsize != 8)) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError,
                        "compressed_segmentation needs a 3-D array of uint32 or uint64 labels");
        return -1;
    }
    return (int)(view->itemsize / 4);
}

PyDoc_STRVAR(decode_doc,
"decode(stream, out, size, block, origin)\n--\n\n"
"Decode part of one channel's stream into ``out``.\n\n"
"stream: the channel's words (bytes-like); out: a writable 3-D ``[x, y, z]`` buffer of\n"
"uint32 or uint64 items, any strides; size, block: the chunk and block sizes (x, y, z);\n"
"origin: the chunk-local voxel that ``out[0, 0, 0]`` receives. Raises ValueError when the\n"
"stream is corrupt or truncated (``out`` may then hold part of the data).");

static PyObject *cseg_decode(PyObject *self, PyObject *args) {
    Py_buffer stream, out;
    PyObject *outobj, *size, *block, *origin;
    DecodeJob j;
    const char *err = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*OOOO", &stream, &outobj, &size, &block, &origin)) return NULL;
    j.wpl = get_labels_buffer(outobj, &out, 1);
    if (j.wpl < 0) {
        PyBuffer_Release(&stream);
        return NULL;
    }
    if (parse_geometry(size, block, j.size, j.block, j.grid) ||
        parse_ints(origin, j.lo, 3, "origin"))
        goto fail;
    if (!box_inside(j.lo, out.shape, j.size, 3)) {
        PyErr_SetString(PyExc_ValueError, "the region lies outside the chunk");
        goto fail;
    }
    for (int a = 0; a < 3; a++) {
        j.hi[a] = j.lo[a] + out.shape[a];
        j.strides[a] = out.strides[a];
        if (out.shape[a] == 0) goto done;
    }
    if (stream.len % 4) {
        PyErr_SetString(PyExc_ValueError, "the stream is not a whole number of 32-bit words");
        goto fail;
    }
    j.words = stream.buf;
    j.nwords = (size_t)stream.len / 4;
    j.out = out.buf;
    Py_BEGIN_ALLOW_THREADS
    err = decode_region(&j);
    Py_END_ALLOW_THREADS
    if (err) {
        PyErr_SetString(PyExc_ValueError, err);
        goto fail;
    }
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&stream);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&out);
    PyBuffer_Release(&stream);
    return NULL;
}

/* ------------------------------------------------------------------------------ encode */

typedef struct {
    uint32_t *data;
    size_t len, cap;
} Words;

/* Append n zero words; 0, or -1 when out of memory. */
static int words_extend(Words *w, size_t n) {
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 1024;
        while (cap < w->len + n) cap *= 2;
        uint32_t *grown = realloc(w->data, cap * 4);
        if (!grown) return -1;
        w->data = grown;
        w->cap = cap;
    }
    memset(w->data + w->len, 0, n * 4);
    w->len += n;
    return 0;
}

/* Lookup tables already written, so identical tables are stored once (open addressing). */
typedef struct {
    uint64_t hash;
    uint32_t offset, count; /* count 0: empty slot */
} TableSlot;

typedef struct {
    TableSlot *slots;
    size_t mask, used;
} TableCache;

static uint64_t hash_labels(const uint64_t *v, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ v[i]) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return h;
}

static int table_matches(const Words *w, const TableSlot *s, const uint64_t *v, size_t n,
                         int wpl) {
    if (s->count != n) return 0;
    const uint32_t *t = w->data + s->offset;
    for (size_t i = 0; i < n; i++) {
        uint64_t stored = t[i * wpl];
        if (wpl == 2) stored |= (uint64_t)t[i * wpl + 1] << 32;
        if (stored != v[i]) return 0;
    }
    return 1;
}

/* The slot holding table v, or the empty slot where it belongs. */
static TableSlot *cache_find(TableCache *c, const Words *w, const uint64_t *v, size_t n,
                             uint64_t h, int wpl) {
    size_t i = (size_t)h & c->mask;
    while (c->slots[i].count && !(c->slots[i].hash == h && table_matches(w, &c->slots[i], v, n, wpl)))
        i = (i + 1) & c->mask;
    return &c->slots[i];
}

static int cache_grow(TableCache *c) {
    size_t cap = (c->mask + 1) * 2;
    TableSlot *slots = calloc(cap, sizeof(TableSlot));
    if (!slots) return -1;
    for (size_t i = 0; i <= c->mask; i++) {
        if (!c->slots[i].count) continue;
        size_t k = (size_t)c->slots[i].hash & (cap - 1);
        while (slots[k].count) k = (k + 1) & (cap - 1);
        slots[k] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->mask = cap - 1;
    return 0;
}

/* A block's labels are gathered into a short list while it has few of them (the common
 * case), noting each voxel's place in the list; past FEW_LABELS labels, the block's run
 * heads are collected and sorted instead, and the voxels are looked up again while packing. */
#define FEW_LABELS 32

typedef struct {
    const char *in;
    Py_ssize_t strides[3];
    int wpl;
    Py_ssize_t size[3], block[3], grid[3];
    Words out;
    TableCache cache;
    uint64_t *scratch; /* one block's labels */
    uint8_t *slots;    /* per voxel of a block with few labels: its place in the short list */
    uint8_t rank[FEW_LABELS];  /* a place in the short list -> index in the sorted table */
    int slotted;       /* whether slots and rank describe the current block */
} EncodeJob;

/* Where the label of voxel (x, y, z) is in the input. */
static inline const char *label_at(const EncodeJob *e, Py_ssize_t x, Py_ssize_t y,
                                   Py_ssize_t z) {
    return e->in + x * e->strides[0] + y * e->strides[1] + z * e->strides[2];
}

static int compare_labels(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static size_t sort_unique(uint64_t *v, size_t n) {
    qsort(v, n, sizeof(uint64_t), compare_labels);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || v[u - 1] != v[i]) v[u++] = v[i];
    return u;
}

/* Every label of the region, run heads only, sorted and unique into e->scratch. */
static size_t collect_labels(EncodeJob *e, const Py_ssize_t from[3], const Py_ssize_t to[3]) {
    size_t n = 0;
    uint64_t *v = e->scratch;
    for (Py_ssize_t z = from[2]; z < to[2]; z++)
        for (Py_ssize_t y = from[1]; y < to[1]; y++) {
            const char *src = label_at(e, from[0], y, z);
            for (Py_ssize_t x = from[0]; x < to[0]; x++, src += e->strides[0]) {
                uint64_t label = read_label(src, e->wpl);
                if (n == 0 || v[n - 1] != label) v[n++] = label;
            }
        }
    e->slotted = 0;
    return sort_unique(v, n);
}

/* Sort the short list v[0..n), setting e->rank from old places to sorted indices. */
static void sort_short_list(EncodeJob *e, uint64_t *v, size_t n) {
    uint8_t order[FEW_LABELS];
    uint64_t sorted[FEW_LABELS];
    for (size_t i = 0; i < n; i++) {
        size_t k = i;
        for (; k > 0 && v[order[k - 1]] > v[i]; k--) order[k] = order[k - 1];
        order[k] = (uint8_t)i;
    }
    for (size_t k = 0; k < n; k++) {
        sorted[k] = v[order[k]];
        e->rank[order[k]] = (uint8_t)k;
    }
    memcpy(v, sorted, n * sizeof(uint64_t));
}

/* The block's distinct labels, ascending, in e->scratch; returns how many. */
static size_t distinct_labels(EncodeJob *e, const Py_ssize_t from[3], const Py_ssize_t to[3]) {
    size_t n = 0, i = 0;
    uint64_t *v = e->scratch, prev = 0;
    uint8_t place = 0;
    for (Py_ssize_t z = from[2]; z < to[2]; z++)
        for (Py_ssize_t y = from[1]; y < to[1]; y++) {
            const char *src = label_at(e, from[0], y, z);
            for (Py_ssize_t x = from[0]; x < to[0]; x++, src += e->strides[0]) {
                uint64_t label = read_label(src, e->wpl);
                if (i == 0 || label != prev) {
                    size_t k = 0;
                    while (k < n && v[k] != label) k++;
                    if (k == n) {
                        if (n == FEW_LABELS) return collect_labels(e, from, to);
                        v[n++] = label;
                    }
                    prev = label;
                    place = (uint8_t)k;
                }
                e->slots[i++] = place;
            }
        }
    sort_short_list(e, v, n);
    e->slotted = 1;
    return n;
}

/* Pack the table index of every voxel of the block at base (words), from e->slots. */
static void pack_slots(EncodeJob *e, const Py_ssize_t b0[3], const Py_ssize_t to[3],
                       uint32_t bits, size_t base) {
    const uint8_t *slot = e->slots;
    uint32_t *out = e->out.data + base;
    Py_ssize_t nx = to[0] - b0[0];
    for (Py_ssize_t z = b0[2]; z < to[2]; z++)
        for (Py_ssize_t y = b0[1]; y < to[1]; y++) {
            size_t bit = (size_t)((y - b0[1]) + e->block[1] * (z - b0[2])) *
                         (size_t)e->block[0] * bits;
            for (Py_ssize_t x = 0; x < nx; x++, bit += bits)
                out[bit >> 5] |= (uint32_t)e->rank[*slot++] << (bit & 31);
        }
}

static size_t find_label(const uint64_t *table, size_t n, uint64_t v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (table[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* Pack the table index of every voxel of the block at base (words). */
static void pack_indices(EncodeJob *e, const Py_ssize_t b0[3], const Py_ssize_t to[3],
                         size_t count, uint32_t bits, size_t base) {
    uint64_t last = e->scratch[0];
    size_t last_index = 0;
    for (Py_ssize_t z = b0[2]; z < to[2]; z++)
        for (Py_ssize_t y = b0[1]; y < to[1]; y++) {
            const char *src = label_at(e, b0[0], y, z);
            size_t row = (size_t)((y - b0[1]) + e->block[1] * (z - b0[2])) * (size_t)e->block[0];
            for (Py_ssize_t x = b0[0]; x < to[0]; x++, src += e->strides[0]) {
                uint64_t v = read_label(src, e->wpl);
                if (v != last) {
                    last = v;
                    last_index = find_label(e->scratch, count, v);
                }
                size_t bit = (row + (size_t)(x - b0[0])) * bits;
                e->out.data[base + (bit >> 5)] |= (uint32_t)last_index << (bit & 31);
            }
        }
}

static const char OUT_OF_MEMORY[] = "out of memory";

/* Encode block (bx, by, bz); NULL, or an error message. */
static const char *encode_block(EncodeJob *e, Py_ssize_t bx, Py_ssize_t by, Py_ssize_t bz) {
    Py_ssize_t b0[3] = {bx * e->block[0], by * e->block[1], bz * e->block[2]}, to[3];
    for (int a = 0; a < 3; a++) {
        Py_ssize_t end = b0[a] + e->block[a];
        to[a] = end < e->size[a] ? end : e->size[a];
    }
    size_t count = distinct_labels(e, b0, to);
    uint32_t bits = 0;
    if (count > 1)
        for (bits = 1; ((uint64_t)1 << bits) < count; bits *= 2) {}
    size_t bvol = (size_t)(e->block[0] * e->block[1] * e->block[2]);
    size_t packed = (bits * bvol + 31) / 32, base = e->out.len;
    uint64_t h = hash_labels(e->scratch, count);
    TableSlot *slot = cache_find(&e->cache, &e->out, e->scratch, count, h, e->wpl);
    int new_table = slot->count == 0;
    size_t table = new_table ? base + packed : slot->offset;
    if (table > 0xFFFFFFu) return "the chunk is too large: a lookup table offset exceeds 24 bits";
    if (words_extend(&e->out, packed + (new_table ? count * (size_t)e->wpl : 0)) < 0)
        return OUT_OF_MEMORY;
    if (bits && e->slotted)
        pack_slots(e, b0, to, bits, base);
    else if (bits)
        pack_indices(e, b0, to, count, bits, base);
    if (new_table) {
        uint32_t *t = e->out.data + table;
        for (size_t i = 0; i < count; i++) {
            t[i * e->wpl] = (uint32_t)e->scratch[i];
            if (e->wpl == 2) t[i * e->wpl + 1] = (uint32_t)(e->scratch[i] >> 32);
        }
        slot->hash = h;
        slot->offset = (uint32_t)table;
        slot->count = (uint32_t)count;
        if (++e->cache.used * 2 > e->cache.mask && cache_grow(&e->cache) < 0)
            return OUT_OF_MEMORY;
    }
    size_t index = (size_t)(bx + e->grid[0] * (by + e->grid[1] * bz));
    e->out.data[2 * index] = (uint32_t)table | (bits << 24);
    e->out.data[2 * index + 1] = (uint32_t)base;
    return NULL;
}

static const char *encode_all(EncodeJob *e) {
    size_t nblocks = (size_t)(e->grid[0] * e->grid[1] * e->grid[2]);
    if (words_extend(&e->out, 2 * nblocks) < 0) return OUT_OF_MEMORY;
    for (Py_ssize_t bz = 0; bz < e->grid[2]; bz++) {
        Py_ssize_t z0 = bz * e->block[2], z1 = z0 + e->block[2];
        warm_rows(e->in, e->strides, 4 * e->wpl, e->size[0], e->size[1], z0,
                  z1 < e->size[2] ? z1 : e->size[2], 0);
        for (Py_ssize_t by = 0; by < e->grid[1]; by++)
            for (Py_ssize_t bx = 0; bx < e->grid[0]; bx++) {
                const char *err = encode_block(e, bx, by, bz);
                if (err) return err;
            }
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < e->out.len; i++) e->out.data[i] = CSEG_SWAP(e->out.data[i]);
#endif
    return NULL;
}

PyDoc_STRVAR(encode_doc,
"encode(labels, block)\n--\n\n"
"One channel's compressed_segmentation stream (bytes) of a 3-D ``[x, y, z]`` buffer of\n"
"uint32 or uint64 labels (any strides) with blocks of ``block`` voxels (x, y, z).");

static PyObject *cseg_encode(PyObject *self, PyObject *args) {
    PyObject *inobj, *block, *result = NULL;
    Py_buffer in;
    EncodeJob e;
    const char *err = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &inobj, &block)) return NULL;
    memset(&e, 0, sizeof e);
    e.wpl = get_labels_buffer(inobj, &in, 0);
    if (e.wpl < 0) return NULL;
    for (int a = 0; a < 3; a++) {
        e.size[a] = in.shape[a];
        e.strides[a] = in.strides[a];
    }
    if (parse_ints(block, e.block, 3, "block") || check_geometry(e.size, e.block, e.grid))
        goto done;
    e.in = in.buf;
    size_t bvol = (size_t)(e.block[0] * e.block[1] * e.block[2]);
    e.scratch = malloc(sizeof(uint64_t) * bvol);
    e.slots = malloc(bvol);
    e.cache.slots = calloc(64, sizeof(TableSlot));
    e.cache.mask = 63;
    if (!e.scratch || !e.slots || !e.cache.slots) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    err = encode_all(&e);
    Py_END_ALLOW_THREADS
    if (err == OUT_OF_MEMORY)
        PyErr_NoMemory();
    else if (err)
        PyErr_SetString(PyExc_ValueError, err);
    else
        result = PyBytes_FromStringAndSize((const char *)e.out.data, (Py_ssize_t)(e.out.len * 4));
done:
    free(e.scratch);
    free(e.slots);
    free(e.cache.slots);
    free(e.out.data);
    PyBuffer_Release(&in);
    return result;
}

static PyMethodDef cseg_methods[] = {
    {"decode", cseg_decode, METH_VARARGS, decode_doc},
    {"encode", cseg_encode, METH_VARARGS, encode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef cseg_module = {
    PyModuleDef_HEAD_INIT, "_cseg",
    "compressed_segmentation streams, one channel at a time (voxelio's own C codec).", -1,
    cseg_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cseg(void) { return PyModule_Create(&cseg_module); }
