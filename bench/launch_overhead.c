/* launch_overhead.c - host cost of tile_launch from C: enqueueing a tiny
 * kernel (examples/scale_rows.tile on 16 x 64 floats) N times, then the
 * same with a tile_sync after each launch.  Prints one line per measure.
 * usage, from the repository root: launch_overhead [N] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tile.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "launch_overhead: %s failed:\n%s\n", what, tile_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    tile_context *ctx;
    tile_kernel *k;
    if (tile_open(&ctx, NULL) != TILE_OK) return fail("tile_open");
    if (tile_compile_file(ctx, "examples/scale_rows.tile", "scale_rows", "C=64,BR=16", &k))
        return fail("tile_compile");
    void *x, *y;
    if (tile_alloc(ctx, 16 * 64 * 4, &x) || tile_alloc(ctx, 16 * 64 * 4, &y)) return fail("tile_alloc");
    int64_t shape[2] = {16, 64};
    tile_arg args[3] = {tile_tensor(TILE_F32, x, 2, shape, NULL),
                        tile_tensor(TILE_F32, y, 2, shape, NULL), tile_scalar_float(TILE_F32, 2)};
    if (tile_launch(k, args, 3, NULL) || tile_sync(ctx, NULL)) return fail("warm-up");
    double t0 = now();
    for (int i = 0; i < n; i++)
        if (tile_launch(k, args, 3, NULL)) return fail("tile_launch");
    double enqueue = (now() - t0) / n;
    if (tile_sync(ctx, NULL)) return fail("tile_sync");
    t0 = now();
    for (int i = 0; i < n / 10 + 1; i++)
        if (tile_launch(k, args, 3, NULL) || tile_sync(ctx, NULL)) return fail("launch+sync");
    double roundtrip = (now() - t0) / (n / 10 + 1);
    tile_device_info dev;
    tile_device(ctx, &dev);
    printf("launch overhead on %s: tile_launch %.2f us (host, %d launches), "
           "tile_launch+tile_sync %.2f us\n", dev.name, enqueue * 1e6, n, roundtrip * 1e6);
    tile_free(ctx, x), tile_free(ctx, y);
    tile_kernel_free(k);
    tile_close(ctx);
    return 0;
}
