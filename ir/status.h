/* status.h - the status codes every layer returns.  Library code never
 * exits or aborts; it returns one of these and leaves the message in the
 * diag_ctx (or the runtime's last-error string). */
#ifndef TILE_STATUS_H
#define TILE_STATUS_H

typedef enum tile_status {
    TILE_OK = 0,
    TILE_ERR_SYNTAX,    /* lexer/parser error in a .tile file */
    TILE_ERR_SEMA,      /* names, types, shapes, consts, imports */
    TILE_ERR_IO,        /* a file could not be read or written */
    TILE_ERR_NOMEM,
    TILE_ERR_ARG,       /* bad launch: shapes, dtypes, null pointers, missing values */
    TILE_ERR_RUNTIME,   /* error while running a kernel (e.g. integer division by zero) */
    TILE_ERR_NO_DEVICE, /* no CUDA driver or GPU */
    TILE_ERR_INTERNAL,  /* a compiler invariant broke: a bug in tile */
} tile_status;

const char *tile_status_name(tile_status s);

#endif
