/* hello_tile.c - the smallest host program: JIT-compile examples/scale_rows.tile
 * and run y = 2 x on a 100 x 64 matrix, on the GPU or (TILE_INTERPRET=1, or
 * when there is no GPU) on the CPU interpreter.
 * usage, from the repository root: hello_tile [FILE] */
#include <stdio.h>

#include "tile.h"

enum { R = 100, C = 64 };

static int fail(const char *what)
{
    fprintf(stderr, "hello_tile: %s failed:\n%s\n", what, tile_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *file = argc > 1 ? argv[1] : "examples/scale_rows.tile";
    tile_context *ctx;
    tile_status st = tile_open(&ctx, NULL);
    if (st == TILE_ERR_NO_DEVICE) st = tile_open(&ctx, &(tile_config){.mode = TILE_MODE_INTERPRET});
    if (st != TILE_OK) return fail("tile_open");
    tile_kernel *k;
    if (tile_compile_file(ctx, file, "scale_rows", "C=64,BR=16", &k) != TILE_OK)
        return fail("tile_compile");

    static float host_x[R * C], host_y[R * C];
    for (int i = 0; i < R * C; i++) host_x[i] = (float)i;
    void *x, *y;
    if (tile_alloc(ctx, sizeof host_x, &x) || tile_alloc(ctx, sizeof host_y, &y) ||
        tile_upload(ctx, x, host_x, sizeof host_x))
        return fail("tile_alloc/tile_upload");

    int64_t shape[2] = {R, C};
    tile_arg args[3] = {tile_tensor(TILE_F32, x, 2, shape, NULL),
                        tile_tensor(TILE_F32, y, 2, shape, NULL),
                        tile_scalar_float(TILE_F32, 2.0)};
    if (tile_launch(k, args, 3, NULL) != TILE_OK || tile_sync(ctx, NULL) != TILE_OK)
        return fail("tile_launch");
    if (tile_download(ctx, host_y, y, sizeof host_y) != TILE_OK) return fail("tile_download");

    int bad = 0;
    for (int i = 0; i < R * C; i++) bad += host_y[i] != 2.0f * host_x[i];
    tile_device_info dev;
    tile_device(ctx, &dev);
    printf("hello_tile on %s: y[%d] = %g, %s\n", dev.name, R * C - 1, host_y[R * C - 1],
           bad ? "WRONG" : "OK");
    tile_free(ctx, x), tile_free(ctx, y);
    tile_kernel_free(k);
    tile_close(ctx);
    return bad != 0;
}
