/* rt_cache.h - compiled kernels on disk, keyed by SHA-256.
 *
 * The key covers everything that can change the generated code: the path
 * and text of every source file the compilation read (imports and the
 * "-D NAME" pseudo-files of the constants included: the front end registers
 * each with the diag context), the kernel name, the target arch, the
 * specialisation facts, the options and the compiler version.
 *
 * An entry is one file DIR/<hex key>.tkc:
 *
 *   0      8   magic "TILEKC02"
 *   8      8   payload length, little endian
 *   16    32   the key (an entry renamed to another key is not trusted)
 *   48    32   SHA-256 of the payload
 *   80     -   payload: u32 num_warps, smem_bytes, nasserts; strings entry,
 *              arch; per assert: string file, u32 line, col, string message;
 *              string ptx; string cubin (the device code cuLink made of
 *              the PTX when the entry was stored; empty: none).
 *              (string = u32 length + bytes, no NUL)
 *
 * Writers write a temporary file in DIR and rename it over the entry, so a
 * reader sees a whole old entry, a whole new one or none; anything that
 * fails the header, length or checksum is a miss (recompiled and rewritten),
 * never trusted. */
#ifndef TILE_RT_CACHE_H
#define TILE_RT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler/pipeline.h"

#define RT_KEY_SIZE 32

typedef struct rt_key_parts {
    const src_file *files;      /* every source the compilation read */
    const char *kernel;
    const char *arch;
    tc_arg_facts facts;
    int num_warps;
    int opt_level;
    const char *schedule;       /* the scheduler's choice ("BM=64,BN=32 w8 s2"), or NULL */
} rt_key_parts;

/* The compiler version mixed into every key. */
const char *rt_compiler_version(void);

void rt_cache_key(const rt_key_parts *p, uint8_t key[RT_KEY_SIZE]);
/* Whether f repeats a file before it in the list (same path and text): a
 * compilation whose scheduler lowered the sources again registers them
 * again, and its keys must equal those of a compilation with the
 * schedule fixed, which reads each once.  Keys and records skip repeats. */
bool rt_file_repeated(const src_file *files, const src_file *f);
void rt_key_hex(const uint8_t key[RT_KEY_SIZE], char hex[2 * RT_KEY_SIZE + 1]);

typedef struct rt_assert {
    char *file;
    int line, col;
    char *message;
} rt_assert;

/* What launching a compiled variant needs; every pointer is malloc'd. */
typedef struct rt_entry {
    char *ptx;
    size_t ptx_size;
    uint8_t *cubin;            /* NULL: none (load the PTX) */
    size_t cubin_size;
    char *entry, *arch;
    int num_warps, smem_bytes;
    int nasserts;
    rt_assert *asserts;
} rt_entry;

tile_status rt_entry_from_gpu(rt_entry *e, const tc_gpu_kernel *k);
void rt_entry_free(rt_entry *e);

/* dir: NULL or "" = no disk cache (load misses, store does nothing).
 * Load returns true only for a complete, verified entry of this key. */
bool rt_cache_load(const char *dir, const uint8_t key[RT_KEY_SIZE], rt_entry *out);
tile_status rt_cache_store(const char *dir, const uint8_t key[RT_KEY_SIZE], const rt_entry *e,
                           char *err, size_t errsize);
/* The entry's path into buf. */
void rt_cache_path(const char *dir, const uint8_t key[RT_KEY_SIZE], char *buf, size_t size);

/* mkdir -p dir, mode 0700: 0 or an errno. */
int rt_make_dirs(const char *dir);

/* $TILE_CACHE_DIR, else $HOME/.cache/tile (malloc'd; NULL if neither). */
char *rt_cache_default_dir(void);

/* Any cache file DIR/<hex key><ext> in the entries' framing (the header
 * above with its own 8-byte magic): kernel records (rt_record.c) use it.
 * Load returns the malloc'd file (free it) with *payload pointing at its
 * verified payload, or NULL for a missing, torn, misplaced or corrupt one. */
uint8_t *rt_blob_load(const char *dir, const uint8_t key[RT_KEY_SIZE], const char *ext,
                      const char magic[8], const uint8_t **payload, size_t *payload_len);
tile_status rt_blob_store(const char *dir, const uint8_t key[RT_KEY_SIZE], const char *ext,
                          const char magic[8], const uint8_t *payload, size_t len, char *err,
                          size_t errsize);

/* Payload buffers: little-endian integers, strings as u32 length + bytes.
 * A writer that runs out of memory, or a reader that runs past the end,
 * sets `failed` and ignores everything after. */
typedef struct rt_wbuf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} rt_wbuf;
typedef struct rt_rbuf {
    const uint8_t *p;
    size_t len, pos;
    bool failed;
} rt_rbuf;
void rt_put(rt_wbuf *b, const void *p, size_t n);
void rt_put_u32(rt_wbuf *b, uint32_t v);
void rt_put_u64(rt_wbuf *b, uint64_t v);
void rt_put_str(rt_wbuf *b, const char *s, size_t n);
uint32_t rt_get_u32(rt_rbuf *b);
uint64_t rt_get_u64(rt_rbuf *b);
char *rt_get_str(rt_rbuf *b, size_t *len);   /* malloc'd, NUL-terminated */
/* SHA-256 of n bytes. */
void rt_sha256(const void *p, size_t n, uint8_t out[RT_KEY_SIZE]);

#endif
