/* tile_status.h - the status codes every layer of tile returns, the one
 * definition of them.  Library code never exits or aborts; it returns one of
 * these and leaves the message in the diag_ctx (or the runtime's
 * tile_last_error()).
 *
 * This header is public: the runtime's tile.h includes it, so it stays
 * self-contained (no other tile header, C and C++).  A host program puts
 * support/ beside runtime/ on its include path. */
#ifndef TILE_STATUS_H
#define TILE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tile_status {
    TILE_OK = 0,
    TILE_ERR_SYNTAX,    /* lexer/parser error in a .tile file */
    TILE_ERR_SEMA,      /* names, types, shapes, consts, imports */
    TILE_ERR_IO,        /* a file could not be read or written */
    TILE_ERR_NOMEM,
    TILE_ERR_ARG,       /* bad call or launch: shapes, dtypes, null pointers, aliasing */
    TILE_ERR_RUNTIME,   /* a kernel failed while running: assert, driver error,
                           integer division by zero in the interpreter */
    TILE_ERR_NO_DEVICE, /* no CUDA driver or GPU */
    TILE_ERR_INTERNAL,  /* a compiler invariant broke: a bug in tile */
} tile_status;

/* A short English name of s ("syntax error", ...): support/status.c. */
const char *tile_status_name(tile_status s);

#ifdef __cplusplus
}
#endif

#endif
