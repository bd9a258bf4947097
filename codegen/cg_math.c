/* cg_math.c - the float math functions NVPTX has no instruction for (there
 * is no libm on the device): sin, cos, erf, log1p, expm1, pow.  Each takes
 * and returns an f32 register and computes in f64 (exact on every f32
 * input, fast enough on sm_80/sm_90), so that one rounding to f32 at the end
 * leaves the result within the tolerance docs/language.md gives against
 * the C library (the interpreter's sinf, erff, ...):
 *
 *   sin/cos  argument reduction modulo pi/2 that is accurate for EVERY f32:
 *            |x| >= 2^24 is m * 2^E (m < 2^24 an integer), reduced first
 *            as m * (2^E mod 2pi) with that constant as a double-double from
 *            TRIG_2E_MOD_2PI (so sin(1e30) is right, not noise); then
 *            Cody-Waite with pi/2 in three f64 parts through fma, and
 *            Taylor polynomials of degree 13/14 on [-pi/4, pi/4].
 *   erf      its Taylor series (64 terms, Horner in x^2) for |x| < 4,
 *            +-1 beyond (erff rounds to +-1 from 3.92 on).
 *   log1p    u = 1 + x in f64, log(u) - ((u - 1) - x) / u, log through
 *            2 atanh(f / (2 + f)) on the mantissa.
 *   expm1    2^k (expm1(r)) + (2^k - 1), r = x - k ln 2, expm1(r) Taylor.
 *   pow      exp(y log|x|) in f64 with the C99 Annex F special cases
 *            selected around it (ir/ir.h). */
#include "cg_impl.h"

#include <math.h>
#include <string.h>

/* 2^E mod 2pi as hi + lo doubles, E = 0..104 (generated once: pi to 420
 * bits by Machin's formula, the remainder of 2^E taken exactly in integers). */
static const double TRIG_2E_MOD_2PI[105][2] = {
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.0000000000000p+1, 0x0.0p+0},
    {0x1.0000000000000p+2, 0x0.0p+0},
    {0x1.b7812aeef4b9fp+0, -0x1.a62633145c06ep-56},
    {0x1.b7812aeef4b9fp+1, -0x1.a62633145c06ep-55},
    {0x1.2b0bad558f435p-1, -0x1.f5f7fb2e61132p-59},
    {0x1.2b0bad558f435p+0, -0x1.f5f7fb2e61132p-58},
    {0x1.2b0bad558f435p+1, -0x1.f5f7fb2e61132p-57},
    {0x1.2b0bad558f435p+2, -0x1.f5f7fb2e61132p-56},
    {0x1.87ef4acdb76a3p+1, 0x1.4dbd3ad1dc3a6p-53},
    {0x1.87ef4acdb76a3p+2, 0x1.4dbd3ad1dc3a6p-52},
    {0x1.7dbee0572c02ep+2, 0x1.8118127272b44p-52},
    {0x1.695e0b6a15344p+2, 0x1.e7cdc1b39fa82p-52},
    {0x1.409c618fe7971p+2, -0x1.4ac6dfca06703p-52},
    {0x1.de321bb718b92p+1, 0x1.403f74eab57cfp-54},
    {0x1.304999cb579e8p+0, -0x1.e90aa2efac07ep-54},
    {0x1.304999cb579e8p+1, -0x1.e90aa2efac07ep-53},
    {0x1.304999cb579e8p+2, -0x1.e90aa2efac07ep-52},
    {0x1.9ce6fca4d8d6ep+1, -0x1.d8ef52213ba05p-53},
    {0x1.58e8ec12c0aa8p-3, 0x1.95c955afd3e7bp-57},
    {0x1.58e8ec12c0aa8p-2, 0x1.95c955afd3e7bp-56},
    {0x1.58e8ec12c0aa8p-1, 0x1.95c955afd3e7bp-55},
    {0x1.58e8ec12c0aa8p+0, 0x1.95c955afd3e7bp-54},
    {0x1.58e8ec12c0aa8p+1, 0x1.95c955afd3e7bp-53},
    {0x1.58e8ec12c0aa8p+2, 0x1.95c955afd3e7bp-52},
    {0x1.1fb222e13e839p+2, -0x1.eecfb7d19df11p-52},
    {0x1.5a8920fc746b2p+1, -0x1.f003a5a903450p-53},
    {0x1.5a8920fc746b2p+2, -0x1.f003a5a903450p-52},
    {0x1.22f28cb4a604bp+2, -0x1.f4d35d069894fp-53},
    {0x1.678ac84a126fap+1, 0x1.e1947f9043554p-53},
    {0x1.678ac84a126fap+2, 0x1.e1947f9043554p-52},
    {0x1.3cf5db4fe20ddp+2, -0x1.57396410bf160p-52},
    {0x1.cf9802b702942p+1, 0x1.b956a569e09d0p-55},
    {0x1.ebc26b95fe14fp-1, -0x1.6065ceb66cc97p-55},
    {0x1.ebc26b95fe14fp+0, -0x1.6065ceb66cc97p-54},
    {0x1.ebc26b95fe14fp+1, -0x1.6065ceb66cc97p-53},
    {0x1.668ad946ed0dap+0, -0x1.eb20c79eca277p-54},
    {0x1.668ad946ed0dap+1, -0x1.eb20c79eca277p-53},
    {0x1.668ad946ed0dap+2, -0x1.eb20c79eca277p-52},
    {0x1.3af5fd499749bp+2, -0x1.e147e4ddb41ebp-53},
    {0x1.c7988a9dd783bp+1, -0x1.f754901df3be4p-53},
    {0x1.abc6aacca5912p-1, -0x1.1b6f34f397eb5p-56},
    {0x1.abc6aacca5912p+0, -0x1.1b6f34f397eb5p-55},
    {0x1.abc6aacca5912p+1, -0x1.1b6f34f397eb5p-54},
    {0x1.9a6f58862bf99p-2, 0x1.7e60254ee49ebp-56},
    {0x1.9a6f58862bf99p-1, 0x1.7e60254ee49ebp-55},
    {0x1.9a6f58862bf99p+0, 0x1.7e60254ee49ebp-54},
    {0x1.9a6f58862bf99p+1, 0x1.7e60254ee49ebp-53},
    {0x1.09f4683d25023p-3, 0x1.fee10ecf6f246p-59},
    {0x1.09f4683d25023p-2, 0x1.fee10ecf6f246p-58},
    {0x1.09f4683d25023p-1, 0x1.fee10ecf6f246p-57},
    {0x1.09f4683d25023p+0, 0x1.fee10ecf6f246p-56},
    {0x1.09f4683d25023p+1, 0x1.fee10ecf6f246p-55},
    {0x1.09f4683d25023p+2, 0x1.fee10ecf6f246p-54},
    {0x1.0392366c0e65cp+1, -0x1.af1dbc98e2e42p-56},
    {0x1.0392366c0e65cp+2, -0x1.af1dbc98e2e42p-55},
    {0x1.d412de4f67e7ep+0, 0x1.e758b6a2061a3p-54},
    {0x1.d412de4f67e7ep+1, 0x1.e758b6a2061a3p-53},
    {0x1.07cca42c94599p+0, -0x1.984d6479fd323p-55},
    {0x1.07cca42c94599p+1, -0x1.984d6479fd323p-54},
    {0x1.07cca42c94599p+2, -0x1.984d6479fd323p-53},
    {0x1.f5e64c5397865p+0, 0x1.3540e152f4359p-54},
    {0x1.f5e64c5397865p+1, 0x1.3540e152f4359p-53},
    {0x1.8f1a5c3d52d34p+0, 0x1.ade7e21ae7526p-56},
    {0x1.8f1a5c3d52d34p+1, 0x1.ade7e21ae7526p-55},
    {0x1.8f1a5c3d52d34p+2, 0x1.ade7e21ae7526p-54},
    {0x1.8c15033662d50p+2, -0x1.0db9c88f485cfp-54},
    {0x1.860a512882d88p+2, -0x1.a13f4778e9eefp-52},
    {0x1.79f4ed0cc2df7p+2, -0x1.7383c88c66790p-54},
    {0x1.61ca24d542ed6p+2, -0x1.d424477778fcfp-52},
    {0x1.3174946643093p+2, -0x1.8555e4406f74ap-53},
    {0x1.a192e7108681bp+1, -0x1.3f708ee36a6a2p-53},
    {0x1.ee6639887604dp-3, 0x1.8b437ad3f55e0p-58},
    {0x1.ee6639887604dp-2, 0x1.8b437ad3f55e0p-57},
    {0x1.ee6639887604dp-1, 0x1.8b437ad3f55e0p-56},
    {0x1.ee6639887604dp+0, 0x1.8b437ad3f55e0p-55},
    {0x1.ee6639887604dp+1, 0x1.8b437ad3f55e0p-54},
    {0x1.711a1110cccd4p+0, -0x1.5302971d2c45bp-54},
    {0x1.711a1110cccd4p+1, -0x1.5302971d2c45bp-53},
    {0x1.711a1110cccd4p+2, -0x1.5302971d2c45bp-52},
    {0x1.50146cdd56c8fp+2, 0x1.fcc374a30da1ap-55},
    {0x1.0e0924766ac06p+2, -0x1.36630c1104b01p-53},
    {0x1.13e52751255e7p+1, -0x1.4315bd0929c20p-54},
    {0x1.13e52751255e7p+2, -0x1.4315bd0929c20p-53},
    {0x1.2b5532bc0fd6bp+1, -0x1.75e080e9be09ap-54},
    {0x1.2b5532bc0fd6bp+2, -0x1.75e080e9be09ap-53},
    {0x1.89156067b9b7bp+1, -0x1.2085c83607941p-53},
    {0x1.89156067b9b7bp+2, -0x1.2085c83607941p-52},
    {0x1.800b0b8b309ddp+2, 0x1.492418c5562eep-53},
    {0x1.6df661d21e6a2p+2, 0x1.760daca08373ap-55},
    {0x1.49cd0e5ffa02cp+2, -0x1.79bdf01249c71p-53},
    {0x1.017a677bb133fp+2, 0x1.6bdfacbc70789p-52},
    {0x1.c35466cc7e59ap+0, -0x1.0a8c26e1933d7p-54},
    {0x1.c35466cc7e59ap+1, -0x1.0a8c26e1933d7p-53},
    {0x1.89a58c41dc40cp-1, -0x1.27745096c7eeep-55},
    {0x1.89a58c41dc40cp+0, -0x1.27745096c7eeep-54},
    {0x1.89a58c41dc40cp+1, -0x1.27745096c7eeep-53},
    {0x1.89a58c41dc40cp+2, -0x1.27745096c7eeep-52},
    {0x1.812b633f75affp+2, 0x1.2d69f74254c3bp-53},
    {0x1.7037113aa88e6p+2, 0x1.30794110f0348p-56},
    {0x1.4e4e6d310e4b4p+2, -0x1.e8a6761e4f73cp-53},
    {0x1.0a7d251dd9c4fp+2, 0x1.f9ee4d60d597bp-53},
    {0x1.05b529eee170cp+1, 0x1.bf17d45f1fae7p-53},
    {0x1.05b529eee170cp+2, 0x1.bf17d45f1fae7p-52},
    {0x1.e52a7a6600402p+0, 0x1.8f351633e671fp-54},
};

typedef struct mb {
    cg_ctx *g;
    LLVMBuilderRef b;
    LLVMTypeRef d, i64, i32;
} mb;

static mb mb_of(cg_ctx *g)
{
    return (mb){g, g->b, LLVMDoubleTypeInContext(g->ctx), LLVMInt64TypeInContext(g->ctx),
                LLVMInt32TypeInContext(g->ctx)};
}

static LLVMValueRef dc(mb *m, double v) { return LLVMConstReal(m->d, v); }
static LLVMValueRef add(mb *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(m->b, a, b, ""); }
static LLVMValueRef sub(mb *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(m->b, a, b, ""); }
static LLVMValueRef mul(mb *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(m->b, a, b, ""); }
static LLVMValueRef ddiv(mb *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(m->b, a, b, ""); }
static LLVMValueRef sel(mb *m, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(m->b, c, a, b, ""); }
static LLVMValueRef fcmp(mb *m, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFCmp(m->b, p, a, b, ""); }

static LLVMValueRef fma3(mb *m, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMTypeRef t = LLVMTypeOf(a);
    LLVMValueRef args[3] = {a, b, c};
    return cg_intrinsic(m->g, "llvm.fma", &t, 1, args, 3);
}

static LLVMValueRef un(mb *m, const char *name, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    return cg_intrinsic(m->g, name, &t, 1, &x, 1);
}

/* Horner: c[n-1] t^(n-1) + ... + c[0]. */
static LLVMValueRef poly(mb *m, LLVMValueRef t, const double *c, int n)
{
    LLVMValueRef s = dc(m, c[n - 1]);
    for (int i = n - 2; i >= 0; i--) s = fma3(m, s, t, dc(m, c[i]));
    return s;
}

/* 2^k for an i32 k in [-1022, 1023]. */
static LLVMValueRef pow2i(mb *m, LLVMValueRef k)
{
    LLVMValueRef e = LLVMBuildAdd(m->b, LLVMBuildSExt(m->b, k, m->i64, ""), LLVMConstInt(m->i64, 1023, 0), "");
    return LLVMBuildBitCast(m->b, LLVMBuildShl(m->b, e, LLVMConstInt(m->i64, 52, 0), ""), m->d, "");
}

/* ---- log and exp in f64 ------------------------------------------------------ */

/* log(u) for u > 0 finite (relative error ~1e-15); other u are the caller's. */
static LLVMValueRef dlog(mb *m, LLVMValueRef u)
{
    LLVMValueRef bits = LLVMBuildBitCast(m->b, u, m->i64, "");
    LLVMValueRef ebits = LLVMBuildAnd(m->b, LLVMBuildLShr(m->b, bits, LLVMConstInt(m->i64, 52, 0), ""),
                                      LLVMConstInt(m->i64, 0x7ff, 0), "");
    /* Subnormal doubles cannot come from f32 inputs here (u >= 2^-149). */
    LLVMValueRef mant = LLVMBuildOr(m->b, LLVMBuildAnd(m->b, bits, LLVMConstInt(m->i64, 0xfffffffffffffULL, 0), ""),
                                    LLVMConstInt(m->i64, 0x3ff0000000000000ULL, 0), "");
    LLVMValueRef mv = LLVMBuildBitCast(m->b, mant, m->d, "");
    LLVMValueRef e = LLVMBuildSIToFP(m->b, LLVMBuildSub(m->b, ebits, LLVMConstInt(m->i64, 1023, 0), ""), m->d, "");
    LLVMValueRef big = fcmp(m, LLVMRealOGT, mv, dc(m, 1.4142135623730951));
    mv = sel(m, big, mul(m, mv, dc(m, 0.5)), mv);
    e = sel(m, big, add(m, e, dc(m, 1.0)), e);
    LLVMValueRef f = sub(m, mv, dc(m, 1.0));
    LLVMValueRef s = ddiv(m, f, add(m, f, dc(m, 2.0)));
    LLVMValueRef s2 = mul(m, s, s);
    /* 2 atanh(s) = 2s (1 + s^2/3 + s^4/5 + ...), |s| <= 0.1716 */
    static const double c[] = {2.0, 2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11, 2.0 / 13, 2.0 / 15, 2.0 / 17};
    LLVMValueRef lm = mul(m, s, poly(m, s2, c, 9));
    return fma3(m, e, dc(m, 0.6931471805599453), fma3(m, e, dc(m, 2.3190468138462996e-17), lm));
}

/* expm1(z) and exp(z) for finite z in [-745, 710]; clamp before.  k = rint(z / ln 2),
 * r = z - k ln 2 (two fma parts), p = expm1(r) by Taylor (|r| <= 0.347). */
static void dexp_parts(mb *m, LLVMValueRef z, LLVMValueRef *p, LLVMValueRef *k)
{
    LLVMValueRef kd = un(m, "llvm.rint", mul(m, z, dc(m, 1.4426950408889634)));
    LLVMValueRef r = fma3(m, LLVMBuildFNeg(m->b, kd, ""), dc(m, 0.6931471805599453), z);
    r = fma3(m, LLVMBuildFNeg(m->b, kd, ""), dc(m, 2.3190468138462996e-17), r);
    double c[14];
    double fact = 1;
    for (int i = 0; i < 14; i++) fact *= i + 1, c[i] = 1 / fact; /* 1/1!, 1/2!, ... */
    *p = mul(m, r, poly(m, r, c, 14));
    *k = LLVMBuildFPToSI(m->b, kd, m->i32, "");
}

/* exp(z) for any z (NaN passes, +-inf give inf / 0). */
static LLVMValueRef dexp(mb *m, LLVMValueRef z)
{
    LLVMTypeRef t = m->d;
    LLVMValueRef a2[2] = {z, dc(m, -1000.0)};
    LLVMValueRef c = cg_intrinsic(m->g, "llvm.maxnum", &t, 1, a2, 2);
    LLVMValueRef a3[2] = {c, dc(m, 1000.0)};
    c = cg_intrinsic(m->g, "llvm.minnum", &t, 1, a3, 2);
    LLVMValueRef p, k;
    dexp_parts(m, c, &p, &k);
    /* 2^k in two halves so that k in [-1443, 1443] neither overflows the
     * exponent field nor loses subnormals: the result leaves f64 range
     * (0 or inf) exactly where exp does. */
    LLVMValueRef k1 = LLVMBuildSDiv(m->b, k, LLVMConstInt(m->i32, 2, 1), "");
    LLVMValueRef k2 = LLVMBuildSub(m->b, k, k1, "");
    LLVMValueRef v = mul(m, mul(m, add(m, p, dc(m, 1.0)), pow2i(m, k1)), pow2i(m, k2));
    return sel(m, fcmp(m, LLVMRealUNO, z, z), z, v);
}

static LLVMValueRef to_d(mb *m, LLVMValueRef x) { return LLVMBuildFPExt(m->b, x, m->d, ""); }
static LLVMValueRef to_f(mb *m, LLVMValueRef x) { return LLVMBuildFPTrunc(m->b, x, LLVMFloatTypeInContext(m->g->ctx), ""); }

/* ---- sin / cos -------------------------------------------------------------------- */

static LLVMValueRef table_ptr(mb *m)
{
    const char *name = "tile_trig_2e_mod_2pi";
    LLVMValueRef gv = LLVMGetNamedGlobal(m->g->mod, name);
    if (gv) return gv;
    enum { N = 105 * 2 };
    LLVMValueRef init[N];
    for (int i = 0; i < N; i++) init[i] = dc(m, TRIG_2E_MOD_2PI[i / 2][i % 2]);
    LLVMTypeRef at = LLVMArrayType2(m->d, N);
    gv = LLVMAddGlobalInAddressSpace(m->g->mod, at, name, 1);
    LLVMSetInitializer(gv, LLVMConstArray2(m->d, init, N));
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMInternalLinkage);
    LLVMSetAlignment(gv, 16);
    return gv;
}

static LLVMValueRef table_load(mb *m, LLVMValueRef idx)
{
    LLVMValueRef p = LLVMBuildGEP2(m->b, m->d, table_ptr(m), &idx, 1, "");
    LLVMValueRef v = LLVMBuildLoad2(m->b, m->d, p, "");
    LLVMSetAlignment(v, 8);
    return v;
}

/* x (f32) reduced modulo pi/2: r in [-pi/4, pi/4] (f64) and the quadrant
 * count k (i32, only k mod 4 matters). */
static void trig_reduce(mb *m, LLVMValueRef x, LLVMValueRef *r_out, LLVMValueRef *k_out)
{
    LLVMValueRef bits = LLVMBuildBitCast(m->b, x, m->i32, "");
    LLVMValueRef e = LLVMBuildAnd(m->b, LLVMBuildLShr(m->b, bits, LLVMConstInt(m->i32, 23, 0), ""),
                                  LLVMConstInt(m->i32, 0xff, 0), "");
    /* |x| >= 2^24: x = +-mant * 2^E, E = e - 150 in 1..104. */
    LLVMValueRef big = LLVMBuildICmp(m->b, LLVMIntUGE, e, LLVMConstInt(m->i32, 151, 0), "");
    LLVMValueRef eidx = LLVMBuildSub(m->b, LLVMBuildSelect(m->b, big, e, LLVMConstInt(m->i32, 150, 0), ""),
                                     LLVMConstInt(m->i32, 150, 0), "");
    eidx = LLVMBuildSelect(m->b, LLVMBuildICmp(m->b, LLVMIntUGT, eidx, LLVMConstInt(m->i32, 104, 0), ""),
                           LLVMConstInt(m->i32, 104, 0), eidx, ""); /* inf/NaN: result is NaN anyway */
    LLVMValueRef i2 = LLVMBuildMul(m->b, eidx, LLVMConstInt(m->i32, 2, 0), "");
    LLVMValueRef chi = table_load(m, i2);
    LLVMValueRef clo = table_load(m, LLVMBuildAdd(m->b, i2, LLVMConstInt(m->i32, 1, 0), ""));
    LLVMValueRef mant = LLVMBuildOr(m->b, LLVMBuildAnd(m->b, bits, LLVMConstInt(m->i32, 0x7fffff, 0), ""),
                                    LLVMConstInt(m->i32, 0x800000, 0), "");
    LLVMValueRef md = LLVMBuildUIToFP(m->b, mant, m->d, "");
    LLVMValueRef neg = LLVMBuildICmp(m->b, LLVMIntSLT, bits, LLVMConstInt(m->i32, 0, 0), "");
    md = sel(m, neg, LLVMBuildFNeg(m->b, md, ""), md);
    /* y = m * (chi + clo) as hi + lo, the product's error kept by fma. */
    LLVMValueRef ph = mul(m, md, chi);
    LLVMValueRef pl = add(m, fma3(m, md, chi, LLVMBuildFNeg(m->b, ph, "")), mul(m, md, clo));
    LLVMValueRef yh = sel(m, big, ph, to_d(m, x)), yl = sel(m, big, pl, dc(m, 0.0));
    /* Cody-Waite: |k| < 2^27, pi/2 = P1 + P2 + P3, each step exact up to one
     * rounding of a value below pi/4 + 2^-26. */
    LLVMValueRef kd = un(m, "llvm.rint", mul(m, yh, dc(m, 0.63661977236758134)));
    LLVMValueRef nk = LLVMBuildFNeg(m->b, kd, "");
    LLVMValueRef r = fma3(m, nk, dc(m, 0x1.921fb54442d18p+0), yh);
    r = fma3(m, nk, dc(m, 0x1.1a62633145c07p-54), r);
    r = add(m, r, yl);
    *r_out = fma3(m, nk, dc(m, -0x1.f1976b7ed8fbcp-110), r);
    *k_out = LLVMBuildFPToSI(m->b, kd, m->i32, "");
}

/* sin (cos when is_cos) of the f32 x. */
static LLVMValueRef trig(cg_ctx *g, LLVMValueRef x, bool is_cos)
{
    mb mm = mb_of(g), *m = &mm;
    LLVMValueRef r, q;
    trig_reduce(m, x, &r, &q);
    LLVMValueRef r2 = mul(m, r, r);
    double cs[7], cc[8];
    double f = 1;
    for (int i = 0, n = 1; i < 7; i++, n += 2) f = (n == 1 ? 1 : f * (n - 1) * n), cs[i] = (i % 2 ? -1 : 1) / f;
    f = 1;
    for (int i = 0, n = 0; i < 8; i++, n += 2) f = (n == 0 ? 1 : f * (n - 1) * n), cc[i] = (i % 2 ? -1 : 1) / f;
    LLVMValueRef s = mul(m, r, poly(m, r2, cs, 7));   /* sin r, degree 13 */
    LLVMValueRef c = poly(m, r2, cc, 8);              /* cos r, degree 14 */
    /* Quadrant q = k mod 4 (cos: q + 1): sin, cos, -sin, -cos. */
    if (is_cos) q = LLVMBuildAdd(m->b, q, LLVMConstInt(m->i32, 1, 0), "");
    LLVMValueRef odd = LLVMBuildTrunc(m->b, q, LLVMInt1TypeInContext(g->ctx), "");
    LLVMValueRef negq = LLVMBuildICmp(m->b, LLVMIntNE, LLVMBuildAnd(m->b, q, LLVMConstInt(m->i32, 2, 0), ""),
                                      LLVMConstInt(m->i32, 0, 0), "");
    LLVMValueRef v = sel(m, odd, c, s);
    v = sel(m, negq, LLVMBuildFNeg(m->b, v, ""), v);
    /* sin(+-0) = +-0 (the reduction's fma would give +0); inf and NaN give NaN. */
    LLVMValueRef xd = to_d(m, x);
    if (!is_cos) v = sel(m, fcmp(m, LLVMRealOEQ, xd, dc(m, 0.0)), xd, v);
    LLVMValueRef fin = fcmp(m, LLVMRealONE, un(m, "llvm.fabs", xd), dc(m, INFINITY));
    return to_f(m, sel(m, fin, v, dc(m, NAN)));
}

/* ---- erf, log1p, expm1 ------------------------------------------------------------- */

static LLVMValueRef erf_f(cg_ctx *g, LLVMValueRef x)
{
    mb mm = mb_of(g), *m = &mm;
    enum { N = 64 };
    double c[N];
    double fact = 1;
    for (int n = 0; n < N; n++) {
        if (n) fact *= n;
        c[n] = (n % 2 ? -1.0 : 1.0) / (fact * (2 * n + 1)) * 1.1283791670955126; /* 2/sqrt(pi) */
    }
    LLVMValueRef xd = to_d(m, x);
    LLVMValueRef ax = un(m, "llvm.fabs", xd);
    LLVMValueRef t = mul(m, xd, xd);
    LLVMValueRef v = mul(m, xd, poly(m, sel(m, fcmp(m, LLVMRealOLT, ax, dc(m, 4.0)), t, dc(m, 0.0)), c, N));
    LLVMValueRef a2[2] = {dc(m, 1.0), xd};
    LLVMTypeRef dt = m->d;
    LLVMValueRef one = cg_intrinsic(g, "llvm.copysign", &dt, 1, a2, 2);
    v = sel(m, fcmp(m, LLVMRealOLT, ax, dc(m, 4.0)), v, one);
    return to_f(m, sel(m, fcmp(m, LLVMRealUNO, xd, xd), xd, v));
}

static LLVMValueRef log1p_f(cg_ctx *g, LLVMValueRef x)
{
    mb mm = mb_of(g), *m = &mm;
    LLVMValueRef xd = to_d(m, x);
    LLVMValueRef u = add(m, dc(m, 1.0), xd);
    LLVMValueRef lu = dlog(m, sel(m, fcmp(m, LLVMRealOGT, u, dc(m, 0.0)), u, dc(m, 1.0)));
    LLVMValueRef v = sub(m, lu, ddiv(m, sub(m, sub(m, u, dc(m, 1.0)), xd), u));
    v = sel(m, fcmp(m, LLVMRealOEQ, u, dc(m, 1.0)), xd, v);              /* tiny x, +-0 */
    v = sel(m, fcmp(m, LLVMRealOEQ, u, dc(m, 0.0)), dc(m, -INFINITY), v); /* x = -1 */
    v = sel(m, fcmp(m, LLVMRealOLT, u, dc(m, 0.0)), dc(m, NAN), v);       /* x < -1 */
    v = sel(m, fcmp(m, LLVMRealOEQ, xd, dc(m, INFINITY)), xd, v);
    return to_f(m, sel(m, fcmp(m, LLVMRealUNO, xd, xd), xd, v));
}

static LLVMValueRef expm1_f(cg_ctx *g, LLVMValueRef x)
{
    mb mm = mb_of(g), *m = &mm;
    LLVMValueRef xd = to_d(m, x);
    LLVMTypeRef t = m->d;
    LLVMValueRef a[2] = {xd, dc(m, -60.0)};
    LLVMValueRef z = cg_intrinsic(g, "llvm.maxnum", &t, 1, a, 2);
    LLVMValueRef b2[2] = {z, dc(m, 100.0)};
    z = cg_intrinsic(g, "llvm.minnum", &t, 1, b2, 2);
    LLVMValueRef p, k;
    dexp_parts(m, z, &p, &k);
    LLVMValueRef pk = pow2i(m, k);
    LLVMValueRef v = fma3(m, pk, p, sub(m, pk, dc(m, 1.0)));
    v = sel(m, fcmp(m, LLVMRealOEQ, xd, dc(m, 0.0)), xd, v);   /* +-0 */
    return to_f(m, sel(m, fcmp(m, LLVMRealUNO, xd, xd), xd, v));
}

/* ---- pow ------------------------------------------------------------------------------ */

/* f32 x is a signaling NaN: exponent all ones, quiet bit 0, payload != 0. */
static LLVMValueRef is_snan(mb *m, LLVMValueRef x)
{
    LLVMValueRef bits = LLVMBuildBitCast(m->b, x, m->i32, "");
    LLVMValueRef hi = LLVMBuildAnd(m->b, bits, LLVMConstInt(m->i32, 0x7fc00000, 0), "");
    LLVMValueRef lo = LLVMBuildAnd(m->b, bits, LLVMConstInt(m->i32, 0x003fffff, 0), "");
    return LLVMBuildAnd(m->b, LLVMBuildICmp(m->b, LLVMIntEQ, hi, LLVMConstInt(m->i32, 0x7f800000, 0), ""),
                        LLVMBuildICmp(m->b, LLVMIntNE, lo, LLVMConstInt(m->i32, 0, 0), ""), "");
}

static LLVMValueRef pow_f(cg_ctx *g, LLVMValueRef x, LLVMValueRef y)
{
    mb mm = mb_of(g), *m = &mm;
    LLVMBuilderRef b = m->b;
    LLVMValueRef xd = to_d(m, x), yd = to_d(m, y);
    LLVMValueRef ax = un(m, "llvm.fabs", xd), ay = un(m, "llvm.fabs", yd);
    /* log|x| with log 0 = -inf, log inf = inf (NaN passes). */
    LLVMValueRef finpos = LLVMBuildAnd(b, fcmp(m, LLVMRealOGT, ax, dc(m, 0.0)),
                                       fcmp(m, LLVMRealOLT, ax, dc(m, INFINITY)), "");
    LLVMValueRef lx = dlog(m, sel(m, finpos, ax, dc(m, 1.0)));
    lx = sel(m, fcmp(m, LLVMRealOEQ, ax, dc(m, 0.0)), dc(m, -INFINITY), lx);
    lx = sel(m, fcmp(m, LLVMRealOEQ, ax, dc(m, INFINITY)), dc(m, INFINITY), lx);
    lx = sel(m, fcmp(m, LLVMRealUNO, ax, ax), ax, lx);
    LLVMValueRef z = mul(m, yd, lx);
    LLVMValueRef mag = dexp(m, z);
    mag = sel(m, fcmp(m, LLVMRealOEQ, z, dc(m, INFINITY)), dc(m, INFINITY), mag);
    mag = sel(m, fcmp(m, LLVMRealOEQ, z, dc(m, -INFINITY)), dc(m, 0.0), mag);
    /* y an integer (finite), odd (|y| < 2^24 in f32, so the i32 is exact). */
    LLVMValueRef yint = LLVMBuildAnd(b, fcmp(m, LLVMRealOEQ, un(m, "llvm.floor", yd), yd),
                                     fcmp(m, LLVMRealONE, ay, dc(m, INFINITY)), "");
    LLVMValueRef small = fcmp(m, LLVMRealOLT, ay, dc(m, 16777216.0));
    LLVMValueRef yi = LLVMBuildFPToSI(b, sel(m, small, yd, dc(m, 0.0)), m->i32, "");
    LLVMValueRef yodd = LLVMBuildAnd(b, LLVMBuildAnd(b, yint, small, ""),
                                     LLVMBuildTrunc(b, yi, LLVMInt1TypeInContext(g->ctx), ""), "");
    LLVMValueRef xneg = LLVMBuildICmp(b, LLVMIntSLT, LLVMBuildBitCast(b, x, m->i32, ""),
                                      LLVMConstInt(m->i32, 0, 0), ""); /* sign bit, -0 too */
    LLVMValueRef v = sel(m, LLVMBuildAnd(b, xneg, yodd, ""), LLVMBuildFNeg(b, mag, ""), mag);
    /* finite x < 0 and finite non-integer y: NaN */
    LLVMValueRef xfneg = LLVMBuildAnd(b, fcmp(m, LLVMRealOLT, xd, dc(m, 0.0)),
                                      fcmp(m, LLVMRealONE, ax, dc(m, INFINITY)), "");
    LLVMValueRef ynonint = LLVMBuildAnd(b, LLVMBuildNot(b, yint, ""), fcmp(m, LLVMRealONE, ay, dc(m, INFINITY)), "");
    v = sel(m, LLVMBuildAnd(b, xfneg, ynonint, ""), dc(m, NAN), v);
    /* pow(x, +-0) = 1, pow(1, y) = 1, pow(-1, +-inf) = 1 (NaN operands included) */
    LLVMValueRef one = LLVMBuildOr(b, fcmp(m, LLVMRealOEQ, yd, dc(m, 0.0)), fcmp(m, LLVMRealOEQ, xd, dc(m, 1.0)), "");
    one = LLVMBuildOr(b, one, LLVMBuildAnd(b, fcmp(m, LLVMRealOEQ, xd, dc(m, -1.0)),
                                            fcmp(m, LLVMRealOEQ, ay, dc(m, INFINITY)), ""), "");
    v = sel(m, one, dc(m, 1.0), v);
    /* ... but a signaling NaN operand gives NaN there (as glibc's powf,
     * the interpreter's reference). */
    LLVMValueRef snan = LLVMBuildOr(b, is_snan(m, x), is_snan(m, y), "");
    v = sel(m, LLVMBuildAnd(b, one, snan, ""), dc(m, NAN), v);
    return to_f(m, v);
}

LLVMValueRef cg_math_op(cg_ctx *g, ir_opcode code, LLVMValueRef *a)
{
    switch (code) {
    case IR_OP_SIN: return trig(g, a[0], false);
    case IR_OP_COS: return trig(g, a[0], true);
    case IR_OP_ERF: return erf_f(g, a[0]);
    case IR_OP_LOG1P: return log1p_f(g, a[0]);
    case IR_OP_EXPM1: return expm1_f(g, a[0]);
    case IR_OP_POW: return pow_f(g, a[0], a[1]);
    default: return NULL;
    }
}
