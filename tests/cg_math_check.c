/* cg_math_check.c - codegen/cg_math.c's routines (compiled for the host
 * by run_cg_math.sh) against the C library on special values and on
 * millions of random f32 (every bit pattern is as likely: huge sin/cos
 * arguments, subnormals, NaN payloads), within the tolerance
 * docs/language.md gives: 2 ulps, exact infinities, NaNs and zero signs. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float tile_sin(float), tile_cos(float), tile_erf(float), tile_log1p(float), tile_expm1(float);
float tile_pow(float, float);

static double ulps(float got, float want)
{
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got) ? 0 : INFINITY;
    if (isinf(want) || want == 0) return got == want && signbit(got) == signbit(want) ? 0 : INFINITY;
    int e;
    frexp(want, &e);
    if (e < -125) e = -125;
    return fabs((double)got - want) / ldexp(1, e - 24);
}

static uint32_t state = 12345;
static uint32_t next(void)
{
    state ^= state << 13, state ^= state >> 17, state ^= state << 5;
    return state;
}
static float any_float(void)
{
    uint32_t b = next();
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

typedef struct worst { const char *name; double ulps; float x, y; } worst;
static void note(worst *w, double u, float x, float y)
{
    if (u > w->ulps) w->ulps = u, w->x = x, w->y = y;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    worst w[6] = {{"sin", 0, 0, 0}, {"cos", 0, 0, 0}, {"erf", 0, 0, 0}, {"log1p", 0, 0, 0}, {"expm1", 0, 0, 0}, {"pow", 0, 0, 0}};
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-45f, -1e-45f,
                                    1.0f, -1.0f, 0.5f, -0.5f, 2.5f, 3.0f, -3.0f, 1e-8f, -1e-8f,
                                    3.4e38f, -3.4e38f, 16777216.0f, 1e30f, 88.0f, 89.0f, -104.0f,
                                    3.9f, -3.92f, 0.7853982f, 1.5707964f, 3.1415927f, 1e6f, -2.0f};
    int ns = (int)(sizeof special / sizeof special[0]);
    for (long i = 0; i < n + ns * ns; i++) {
        float x, y;
        if (i < ns * ns) {
            x = special[i / ns], y = special[i % ns];
        } else {
            x = i % 3 ? any_float() : (float)(int32_t)next() * 1e-8f;   /* moderate values */
            y = i % 2 ? any_float() : (float)((int32_t)next() % 64) * (i % 4 == 1 ? 1.0f : 0.37f);
        }
        note(&w[0], ulps(tile_sin(x), sinf(x)), x, 0);
        note(&w[1], ulps(tile_cos(x), cosf(x)), x, 0);
        note(&w[2], ulps(tile_erf(x), erff(x)), x, 0);
        note(&w[3], ulps(tile_log1p(x), log1pf(x)), x, 0);
        note(&w[4], ulps(tile_expm1(x), expm1f(x)), x, 0);
        note(&w[5], ulps(tile_pow(x, y), powf(x, y)), x, y);
    }
    int bad = 0;
    for (int k = 0; k < 6; k++) {
        printf("%-6s worst %.3g ulps at x = %.9g%s", w[k].name, w[k].ulps, w[k].x, k == 5 ? "" : "\n");
        if (k == 5) printf(", y = %.9g\n", w[k].y);
        bad += !(w[k].ulps <= 2);
    }
    printf("cg_math_check: %ld inputs, %d routine(s) outside 2 ulps\n", n + ns * ns, bad);
    return bad != 0;
}
