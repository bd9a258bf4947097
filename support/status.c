/* status.c - names of status codes, for messages and tests: the only place
 * the strings live (tile_status.h declares the function, tile.h exports it). */
#include "tile_status.h"

const char *tile_status_name(tile_status s)
{
    switch (s) {
    case TILE_OK: return "ok";
    case TILE_ERR_SYNTAX: return "syntax error";
    case TILE_ERR_SEMA: return "semantic error";
    case TILE_ERR_IO: return "i/o error";
    case TILE_ERR_NOMEM: return "out of memory";
    case TILE_ERR_ARG: return "invalid argument";
    case TILE_ERR_RUNTIME: return "runtime error";
    case TILE_ERR_NO_DEVICE: return "no CUDA device";
    case TILE_ERR_INTERNAL: return "internal compiler error";
    }
    return "unknown status";
}
