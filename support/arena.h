/* arena.h - bump allocator; one arena per compilation (or per interpreter
 * run), freed at once.  Nothing allocated from an arena is freed alone, so
 * passes never have to reason about ownership. */
#ifndef TILE_ARENA_H
#define TILE_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *head;
    size_t used_total;
} arena;

void arena_init(arena *a);
void arena_free(arena *a);
/* Returns zeroed memory aligned to 16 bytes, or NULL when out of memory. */
void *arena_alloc(arena *a, size_t size);
void *arena_calloc(arena *a, size_t count, size_t size);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Growable array of pointers allocated in an arena (old storage is simply
 * abandoned on growth). */
typedef struct ptr_vec {
    void **items;
    int len, cap;
} ptr_vec;
int ptr_vec_push(arena *a, ptr_vec *v, void *item); /* 0 ok, -1 OOM */

#endif
