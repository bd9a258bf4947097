/* rt_cache.c - the disk cache of compiled kernels (format in rt_cache.h).
 *
 * SHA-256 comes from nettle (Debian's nettle-dev, linked statically so
 * libtile.so needs nothing beyond libc): the key must be collision-free
 * across everything a user may compile, which rules out a home-made hash. */
#include "rt_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/timing.h"
#include "rt_version.h" /* TILE_COMPILER_VERSION: a hash of the compiler's sources */

static const char MAGIC[8] = {'T', 'I', 'L', 'E', 'K', 'C', '0', '2'};
enum { HEADER = 8 + 8 + RT_KEY_SIZE + SHA256_DIGEST_SIZE };

const char *rt_compiler_version(void) { return "tile " TILE_COMPILER_VERSION " (cache format 2)"; }

/* ---- key ------------------------------------------------------------------------ */
/* Every field is length-prefixed, so no two different inputs hash the same
 * byte stream. */
static void hash_bytes(struct sha256_ctx *c, const void *p, size_t n)
{
    uint64_t len = n;
    sha256_update(c, sizeof len, (const uint8_t *)&len);
    if (n) sha256_update(c, n, p);
}

static void hash_str(struct sha256_ctx *c, const char *s)
{
    hash_bytes(c, s ? s : "", s ? strlen(s) : 0);
}

static void hash_int(struct sha256_ctx *c, uint64_t v) { hash_bytes(c, &v, sizeof v); }

bool rt_file_repeated(const src_file *files, const src_file *f)
{
    for (const src_file *g = files; g && g != f; g = g->next)
        if (g->len == f->len && strcmp(g->path, f->path) == 0 && memcmp(g->text, f->text, f->len) == 0)
            return true;
    return false;
}

void rt_cache_key(const rt_key_parts *p, uint8_t key[RT_KEY_SIZE])
{
    struct sha256_ctx c;
    sha256_init(&c);
    hash_str(&c, rt_compiler_version());
    char switches[256];
    tc_codegen_switches(switches, sizeof switches);
    hash_str(&c, switches);
    hash_str(&c, p->kernel);
    hash_str(&c, p->arch);
    hash_int(&c, p->facts.aligned16);
    hash_int(&c, p->facts.unit_stride);
    hash_int(&c, p->facts.divisible);
    hash_int(&c, (uint64_t)p->num_warps);
    hash_int(&c, (uint64_t)p->opt_level);
    hash_str(&c, p->schedule);
    for (const src_file *f = p->files; f; f = f->next) {
        if (rt_file_repeated(p->files, f)) continue;
        hash_str(&c, f->path);
        hash_bytes(&c, f->text, f->len);
    }
    sha256_digest(&c, RT_KEY_SIZE, key);
}

void rt_sha256(const void *p, size_t n, uint8_t out[RT_KEY_SIZE])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, n, p);
    sha256_digest(&c, RT_KEY_SIZE, out);
}

void rt_key_hex(const uint8_t key[RT_KEY_SIZE], char hex[2 * RT_KEY_SIZE + 1])
{
    for (int i = 0; i < RT_KEY_SIZE; i++) snprintf(hex + 2 * i, 3, "%02x", key[i]);
}

/* ---- entries ---------------------------------------------------------------------- */
static char *dup_str(const char *s) { return strdup(s ? s : ""); }

void rt_entry_free(rt_entry *e)
{
    if (!e) return;
    free(e->ptx);
    free(e->cubin);
    free(e->entry);
    free(e->arch);
    for (int i = 0; i < e->nasserts && e->asserts; i++) {
        free(e->asserts[i].file);
        free(e->asserts[i].message);
    }
    free(e->asserts);
    memset(e, 0, sizeof *e);
}

tile_status rt_entry_from_gpu(rt_entry *e, const tc_gpu_kernel *k)
{
    memset(e, 0, sizeof *e);
    e->ptx_size = k->ptx ? strlen(k->ptx) : 0;
    e->ptx = malloc(e->ptx_size + 1);
    e->entry = dup_str(k->entry);
    e->arch = dup_str(k->arch);
    e->num_warps = k->num_warps;
    e->smem_bytes = k->smem_bytes;
    e->nasserts = k->nasserts;
    e->asserts = calloc(k->nasserts > 0 ? (size_t)k->nasserts : 1, sizeof *e->asserts);
    bool ok = e->ptx && e->entry && e->arch && e->asserts;
    if (e->ptx) memcpy(e->ptx, k->ptx ? k->ptx : "", e->ptx_size + 1);
    for (int i = 0; ok && i < k->nasserts; i++) {
        e->asserts[i] = (rt_assert){.file = dup_str(k->asserts[i].loc.file),
                                    .line = k->asserts[i].loc.line,
                                    .col = k->asserts[i].loc.col,
                                    .message = dup_str(k->asserts[i].message)};
        ok = e->asserts[i].file && e->asserts[i].message;
    }
    if (ok) return TILE_OK;
    rt_entry_free(e);
    return TILE_ERR_NOMEM;
}

/* ---- serialisation ------------------------------------------------------------------ */
void rt_put(rt_wbuf *b, const void *p, size_t n)
{
    if (b->failed || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void rt_put_u32(rt_wbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    rt_put(b, x, 4);
}

void rt_put_u64(rt_wbuf *b, uint64_t v)
{
    rt_put_u32(b, (uint32_t)v);
    rt_put_u32(b, (uint32_t)(v >> 32));
}

void rt_put_str(rt_wbuf *b, const char *s, size_t n)
{
    rt_put_u32(b, (uint32_t)n);
    rt_put(b, s, n);
}

uint32_t rt_get_u32(rt_rbuf *b)
{
    if (b->failed || b->len - b->pos < 4) {
        b->failed = true;
        return 0;
    }
    const uint8_t *x = b->p + b->pos;
    b->pos += 4;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

uint64_t rt_get_u64(rt_rbuf *b)
{
    uint64_t lo = rt_get_u32(b);
    return lo | (uint64_t)rt_get_u32(b) << 32;
}

char *rt_get_str(rt_rbuf *b, size_t *len)
{
    uint32_t n = rt_get_u32(b);
    if (b->failed || b->len - b->pos < n) {
        b->failed = true;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        b->failed = true;
        return NULL;
    }
    memcpy(s, b->p + b->pos, n);
    s[n] = 0;
    b->pos += n;
    if (len) *len = n;
    return s;
}

static void serialise_payload(rt_wbuf *b, const rt_entry *e)
{
    rt_put_u32(b, (uint32_t)e->num_warps);
    rt_put_u32(b, (uint32_t)e->smem_bytes);
    rt_put_u32(b, (uint32_t)e->nasserts);
    rt_put_str(b, e->entry, strlen(e->entry));
    rt_put_str(b, e->arch, strlen(e->arch));
    for (int i = 0; i < e->nasserts; i++) {
        rt_put_str(b, e->asserts[i].file, strlen(e->asserts[i].file));
        rt_put_u32(b, (uint32_t)e->asserts[i].line);
        rt_put_u32(b, (uint32_t)e->asserts[i].col);
        rt_put_str(b, e->asserts[i].message, strlen(e->asserts[i].message));
    }
    rt_put_str(b, e->ptx, e->ptx_size);
    rt_put_str(b, (const char *)e->cubin, e->cubin ? e->cubin_size : 0);
}

static bool parse_payload(rt_rbuf *b, rt_entry *e)
{
    memset(e, 0, sizeof *e);
    e->num_warps = (int)rt_get_u32(b);
    e->smem_bytes = (int)rt_get_u32(b);
    uint32_t n = rt_get_u32(b);
    /* A count the payload cannot hold (each assert is at least 16 bytes)
     * is corruption, not an allocation request. */
    if (b->failed || n > (b->len - b->pos) / 16) return false;
    e->entry = rt_get_str(b, NULL);
    e->arch = rt_get_str(b, NULL);
    e->asserts = calloc(n ? n : 1, sizeof *e->asserts);
    if (!e->asserts) return false;
    e->nasserts = (int)n;
    for (uint32_t i = 0; i < n && !b->failed; i++) {
        e->asserts[i].file = rt_get_str(b, NULL);
        e->asserts[i].line = (int)rt_get_u32(b);
        e->asserts[i].col = (int)rt_get_u32(b);
        e->asserts[i].message = rt_get_str(b, NULL);
    }
    e->ptx = rt_get_str(b, &e->ptx_size);
    e->cubin = (uint8_t *)rt_get_str(b, &e->cubin_size);
    if (e->cubin && !e->cubin_size) free(e->cubin), e->cubin = NULL;
    return !b->failed && b->pos == b->len && e->num_warps > 0 && e->smem_bytes >= 0 &&
           strlen(e->ptx) == e->ptx_size;
}

/* ---- files ------------------------------------------------------------------------------ */
static void blob_path(const char *dir, const uint8_t key[RT_KEY_SIZE], const char *ext, char *buf,
                      size_t size)
{
    char hex[2 * RT_KEY_SIZE + 1];
    rt_key_hex(key, hex);
    snprintf(buf, size, "%s/%s%s", dir, hex, ext);
}

void rt_cache_path(const char *dir, const uint8_t key[RT_KEY_SIZE], char *buf, size_t size)
{
    blob_path(dir, key, ".tkc", buf, size);
}

char *rt_cache_default_dir(void)
{
    const char *env = getenv("TILE_CACHE_DIR");
    if (env) return strdup(env);
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    size_t n = strlen(home) + sizeof "/.cache/tile";
    char *dir = malloc(n);
    if (dir) snprintf(dir, n, "%s/.cache/tile", home);
    return dir;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *data = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size >= HEADER && st.st_size < (1ll << 31)) {
        data = malloc((size_t)st.st_size);
        if (data && fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            free(data);
            data = NULL;
        }
        *len = (size_t)st.st_size;
    }
    fclose(f);
    return data;
}

uint8_t *rt_blob_load(const char *dir, const uint8_t key[RT_KEY_SIZE], const char *ext,
                      const char magic[8], const uint8_t **payload, size_t *payload_len)
{
    if (!dir || !*dir) return NULL;
    char path[4096];
    blob_path(dir, key, ext, path, sizeof path);
    tt_begin(TT_CACHE_IO);
    size_t len = 0;
    uint8_t *data = read_file(path, &len);
    bool ok = data != NULL;
    uint64_t n = 0;
    if (ok) {
        rt_rbuf hdr = {.p = data + 8, .len = 8};
        n = rt_get_u64(&hdr);
        ok = memcmp(data, magic, 8) == 0 && n == len - HEADER &&
             memcmp(data + 16, key, RT_KEY_SIZE) == 0;
    }
    if (ok) {
        uint8_t sum[SHA256_DIGEST_SIZE];
        struct sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, n, data + HEADER);
        sha256_digest(&c, sizeof sum, sum);
        ok = memcmp(sum, data + 16 + RT_KEY_SIZE, sizeof sum) == 0;
    }
    tt_end(TT_CACHE_IO);
    if (!ok) {
        free(data);
        return NULL;
    }
    *payload = data + HEADER;
    *payload_len = n;
    return data;
}

bool rt_cache_load(const char *dir, const uint8_t key[RT_KEY_SIZE], rt_entry *out)
{
    memset(out, 0, sizeof *out);
    const uint8_t *payload;
    size_t len;
    uint8_t *data = rt_blob_load(dir, key, ".tkc", MAGIC, &payload, &len);
    if (!data) return false;
    rt_rbuf b = {.p = payload, .len = len};
    bool ok = parse_payload(&b, out);
    free(data);
    if (!ok) rt_entry_free(out);
    return ok;
}

/* mkdir -p, mode 0700 (the cache holds code that will be run). */
int rt_make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return ENAMETOOLONG;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return errno;
        if (!c) return 0;
        *p = c;
    }
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Header and payload to a temporary file in dir, renamed over path. */
static int write_blob(const char *dir, const char *path, const uint8_t *header,
                      const uint8_t *payload, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int rc = rt_make_dirs(dir), fd = -1;
    if (rc == 0 && (fd = mkstemp(tmp)) < 0) rc = errno;
    if (rc == 0 && (!write_all(fd, header, HEADER) || !write_all(fd, payload, len)))
        rc = errno ? errno : EIO;
    if (fd >= 0 && close(fd) != 0 && rc == 0) rc = errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = errno;
    if (rc != 0 && fd >= 0) unlink(tmp);
    return rc;
}

tile_status rt_blob_store(const char *dir, const uint8_t key[RT_KEY_SIZE], const char *ext,
                          const char magic[8], const uint8_t *payload, size_t len, char *err,
                          size_t errsize)
{
    if (!dir || !*dir) return TILE_OK;
    uint8_t header[HEADER];
    memcpy(header, magic, 8);
    for (int i = 0; i < 8; i++) header[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    memcpy(header + 16, key, RT_KEY_SIZE);
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, len, payload);
    sha256_digest(&c, SHA256_DIGEST_SIZE, header + 16 + RT_KEY_SIZE);
    char path[4096];
    blob_path(dir, key, ext, path, sizeof path);
    tt_begin(TT_CACHE_IO);
    int rc = write_blob(dir, path, header, payload, len);
    tt_end(TT_CACHE_IO);
    if (rc == 0) return TILE_OK;
    snprintf(err, errsize, "cannot write the kernel cache entry %s: %s", path, strerror(rc));
    return TILE_ERR_IO;
}

tile_status rt_cache_store(const char *dir, const uint8_t key[RT_KEY_SIZE], const rt_entry *e,
                           char *err, size_t errsize)
{
    if (!dir || !*dir) return TILE_OK;
    rt_wbuf b = {0};
    serialise_payload(&b, e);
    tile_status st = b.failed ? TILE_ERR_NOMEM
                              : rt_blob_store(dir, key, ".tkc", MAGIC, b.p, b.len, err, errsize);
    free(b.p);
    return st;
}
