/* print.c - the stable textual form of tile IR (docs/ir.md describes it).
 *
 * Golden tests diff this output, so it depends on nothing but the IR's
 * structure: values are renumbered per function in print order (%0, %1, ...;
 * a value with a name hint prints as %name.N), kernel parameters print by
 * name (%q), constants print exactly (shortest round-trip decimal).  The
 * printer never fails on broken IR: the verifier dumps the function it
 * rejects, so a value used before its definition prints as %!ID (its module
 * id) rather than crashing. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct printer {
    FILE *out;
    const ir_func *f;
    int *num;      /* value id -> print number, -1 = not yet defined */
    int nnum;
    int next;
} printer;

static void indent(printer *p, int depth)
{
    for (int i = 0; i < depth; i++) fputs("  ", p->out);
}

/* A block argument of the function body or grid stands for a parameter. */
static const char *param_name(const printer *p, const ir_value *v)
{
    const ir_func *f = p->f;
    if (!v->owner || v->def || !f) return NULL;
    if (v->owner != f->body && v->owner != f->grid) return NULL;
    if (v->index < 0 || v->index >= f->nparams) return NULL;
    return f->params[v->index].name;
}

static void print_ref(printer *p, const ir_value *v)
{
    if (!v) {
        fputs("%<null>", p->out);
        return;
    }
    const char *pn = param_name(p, v);
    if (pn) {
        fprintf(p->out, "%%%s", pn);
        return;
    }
    int n = (p->num && v->id >= 0 && v->id < p->nnum) ? p->num[v->id] : -1;
    if (n < 0) fprintf(p->out, "%%!%d", v->id);
    else if (v->name) fprintf(p->out, "%%%s.%d", v->name, n);
    else fprintf(p->out, "%%%d", n);
}

static void define(printer *p, const ir_value *v)
{
    if (v && !param_name(p, v) && p->num && v->id >= 0 && v->id < p->nnum &&
        p->num[v->id] < 0)
        p->num[v->id] = p->next++;
    print_ref(p, v);
}

static void print_type(printer *p, const ir_type *t)
{
    char buf[512];
    fputs(ir_type_str(t, buf, sizeof buf), p->out);
}

/* Shortest decimal that reads back as the same float (all dtypes we hold in
 * .f are f32-representable), always with a '.' or exponent. */
static void print_float(FILE *out, double v)
{
    if (isnan(v)) { fputs(signbit(v) ? "-nan" : "nan", out); return; }
    if (isinf(v)) { fputs(v < 0 ? "-inf" : "inf", out); return; }
    char buf[64];
    bool is_f32 = (double)(float)v == v;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_f32 && prec <= 9 ? (float)back == (float)v : back == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
    fputs(buf, out);
}

static void print_scalar(FILE *out, ir_dtype t, ir_scalar s)
{
    if (t == IR_BOOL) fputs(s.i ? "true" : "false", out);
    else if (ir_dtype_is_float(t)) print_float(out, s.f);
    else fprintf(out, "%" PRId64, s.i);
}

static void print_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        switch (*s) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if ((unsigned char)*s < 0x20 || *s == 0x7f) fprintf(out, "\\x%02x", (unsigned char)*s);
            else fputc(*s, out);
        }
    }
    fputc('"', out);
}

static void print_refs(printer *p, ir_value *const *vs, int n)
{
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", p->out);
        print_ref(p, vs[i]);
    }
}

static void print_result_types(printer *p, const ir_op *op)
{
    if (op->nresults == 0) return;
    fputs(" : ", p->out);
    for (int i = 0; i < op->nresults; i++) {
        if (i) fputs(", ", p->out);
        if (op->results[i]) print_type(p, &op->results[i]->type);
        else fputs("?", p->out);
    }
}

static void print_block(printer *p, const ir_block *blk, int depth);

/* `{` ... `}` around a region's ops (the opening brace is already on the line). */
static void print_region_body(printer *p, const ir_block *blk, int depth)
{
    fputs(" {\n", p->out);
    if (blk) print_block(p, blk, depth + 1);
    else { indent(p, depth + 1); fputs("<null region>\n", p->out); }
    indent(p, depth);
    fputc('}', p->out);
}

static const ir_block *region(const ir_op *op, int i)
{
    return i < op->nblocks ? op->blocks[i] : NULL;
}

static void print_for(printer *p, const ir_op *op, int depth)
{
    const ir_block *body = region(op, 0);
    fputs("for ", p->out);
    if (body && body->nargs >= 1) define(p, body->args[0]);
    else fputs("%<none>", p->out);
    if (op->noperands >= 3) {
        fputs(" = ", p->out);
        print_ref(p, op->operands[0]);
        fputs(" to ", p->out);
        print_ref(p, op->operands[1]);
        fputs(" step ", p->out);
        print_ref(p, op->operands[2]);
    }
    int ncarried = op->noperands - 3;
    if (ncarried > 0) {
        fputs(" iter(", p->out);
        for (int i = 0; i < ncarried; i++) {
            if (i) fputs(", ", p->out);
            if (body && i + 1 < body->nargs) define(p, body->args[i + 1]);
            else fputs("%<none>", p->out);
            fputs(" = ", p->out);
            print_ref(p, op->operands[3 + i]);
        }
        fputc(')', p->out);
    }
    print_result_types(p, op);
    print_region_body(p, body, depth);
}

static void print_args(printer *p, const ir_block *blk)
{
    fputc('(', p->out);
    for (int i = 0; blk && i < blk->nargs; i++) {
        if (i) fputs(", ", p->out);
        define(p, blk->args[i]);
    }
    fputc(')', p->out);
}

static void print_while(printer *p, const ir_op *op, int depth)
{
    const ir_block *cond = region(op, 0), *body = region(op, 1);
    fputs("while", p->out);
    if (op->noperands > 0) {
        fputs(" iter(", p->out);
        for (int i = 0; i < op->noperands; i++) {
            if (i) fputs(", ", p->out);
            if (cond && i < cond->nargs) define(p, cond->args[i]);
            else fputs("%<none>", p->out);
            fputs(" = ", p->out);
            print_ref(p, op->operands[i]);
        }
        fputc(')', p->out);
    }
    print_result_types(p, op);
    print_region_body(p, cond, depth);
    fputs(" do ", p->out);
    print_args(p, body);
    print_region_body(p, body, depth);
}

static void print_if(printer *p, const ir_op *op, int depth)
{
    fputs("if ", p->out);
    print_refs(p, op->operands, op->noperands);
    print_result_types(p, op);
    print_region_body(p, region(op, 0), depth);
    fputs(" else", p->out);
    print_region_body(p, region(op, 1), depth);
}

/* scan %x, %y, axis=A : types combine(%a0, %a1, %b0, %b1) { ... } */
static void print_scan(printer *p, const ir_op *op, int depth)
{
    fputs("scan ", p->out);
    print_refs(p, op->operands, op->noperands);
    fprintf(p->out, ", axis=%" PRId64, op->attr.i);
    print_result_types(p, op);
    fputs(" combine", p->out);
    print_args(p, region(op, 0));
    print_region_body(p, region(op, 0), depth);
}

/* IR_A_MEMFLAGS ops (load, store, atomic_add): tensor[idx...], then the
 * stored value (ops without results), mask and other (loads) when present. */
static bool print_memory(printer *p, const ir_op *op)
{
    bool stores = op->nresults == 0;
    bool has_mask = op->attr.i & IR_LOAD_HAS_MASK;
    bool has_other = !stores && (op->attr.i & IR_LOAD_HAS_OTHER);
    int nvalue = stores ? 1 : 0;
    int nidx = op->noperands - 1 - nvalue - has_mask - has_other;
    if (op->noperands < 1 || nidx < 0) return false;
    fprintf(p->out, "%s ", ir_op_table[op->code].name);
    print_ref(p, op->operands[0]);
    fputc('[', p->out);
    print_refs(p, op->operands + 1, nidx);
    fputc(']', p->out);
    int k = 1 + nidx;
    if (nvalue) {
        fputs(", ", p->out);
        print_ref(p, op->operands[k++]);
    }
    if (has_mask) {
        fputs(" mask ", p->out);
        print_ref(p, op->operands[k++]);
    }
    if (has_other) {
        fputs(" other ", p->out);
        print_ref(p, op->operands[k++]);
    }
    print_result_types(p, op);
    return true;
}

/* `name items : types`, the items separated by ", ": the attributes the op
 * table declares, each in its place around the operands (docs/ir.md). */
static void print_generic(printer *p, const ir_op *op)
{
    bool known = (unsigned)op->code < IR_OP_COUNT;
    unsigned fl = known ? ir_op_table[op->code].flags : 0;
    fputs(known ? ir_op_table[op->code].name : "?op", p->out);
    bool first = true;
#define ITEM() (fputs(first ? " " : ", ", p->out), first = false)
    if (fl & IR_A_CVAL) {
        ITEM();
        if (op->nresults >= 1 && op->results[0])
            print_scalar(p->out, op->results[0]->type.dtype, op->attr.cval);
        else
            fprintf(p->out, "%" PRId64, op->attr.cval.i);
    }
    if (fl & IR_A_LABEL) {
        ITEM();
        print_string(p->out, op->attr.str ? op->attr.str : "");
    }
    if (fl & IR_A_CALLEE) {
        ITEM();
        fprintf(p->out, "@%s(", op->attr.callee && op->attr.callee->name
                                    ? op->attr.callee->name : "<null>");
        print_refs(p, op->operands, op->noperands);
        fputc(')', p->out);
    } else {
        for (int i = 0; i < op->noperands; i++) {
            ITEM();
            print_ref(p, op->operands[i]);
        }
    }
    if (fl & IR_A_INDEX) {
        ITEM();
        fprintf(p->out, "%" PRId64, op->attr.i);
    }
    if (fl & IR_A_AXIS) {
        ITEM();
        fprintf(p->out, "axis=%" PRId64, op->attr.i);
    }
    if (fl & IR_A_SLICE) {
        ITEM();
        fprintf(p->out, "start=%" PRId64 ", step=%" PRId64, op->attr.start, op->attr.step);
    }
    if (fl & IR_A_PERM) {
        int rank = op->nresults >= 1 && op->results[0] ? op->results[0]->type.rank : 0;
        ITEM();
        fputs("perm=[", p->out);
        for (int i = 0; i < rank && i < IR_MAX_RANK; i++)
            fprintf(p->out, "%s%d", i ? "," : "", op->attr.perm[i]);
        fputc(']', p->out);
    }
    if (fl & IR_A_MESSAGE) {
        ITEM();
        print_string(p->out, op->attr.str ? op->attr.str : "");
    }
#undef ITEM
    print_result_types(p, op);
}

static void print_op(printer *p, const ir_op *op, int depth)
{
    indent(p, depth);
    for (int i = 0; i < op->nresults; i++) {
        if (i) fputs(", ", p->out);
        define(p, op->results[i]);
    }
    if (op->nresults) fputs(" = ", p->out);
    switch (op->code) {
    case IR_OP_FOR: print_for(p, op, depth); break;
    case IR_OP_WHILE: print_while(p, op, depth); break;
    case IR_OP_IF: print_if(p, op, depth); break;
    case IR_OP_SCAN: print_scan(p, op, depth); break;
    default:
        if (!((unsigned)op->code < IR_OP_COUNT &&
              (ir_op_table[op->code].flags & IR_A_MEMFLAGS) && print_memory(p, op)))
            print_generic(p, op);
        break;
    }
    fputc('\n', p->out);
}

static void print_block(printer *p, const ir_block *blk, int depth)
{
    for (const ir_op *op = blk->first; op; op = op->next) print_op(p, op, depth);
}

static void print_param(printer *p, const ir_param *prm)
{
    fprintf(p->out, "%%%s: ", prm->name ? prm->name : "<anon>");
    if (prm->type.kind != IR_TY_TENSOR) {
        print_type(p, &prm->type);
        return;
    }
    fprintf(p->out, "%stensor<%s>[", prm->is_out ? "out " : "", ir_dtype_name(prm->type.dtype));
    for (int d = 0; d < prm->type.rank && d < IR_MAX_RANK; d++) {
        if (d) fputc(',', p->out);
        if (prm->dims[d].size >= 1) fprintf(p->out, "%" PRId64, prm->dims[d].size);
        else fputs(prm->dims[d].name ? prm->dims[d].name : "?", p->out);
    }
    fputc(']', p->out);
}

void ir_print_func(FILE *out, const ir_func *f)
{
    printer p = {.out = out, .f = f};
    int nvalues = f->module ? f->module->next_value_id : 0;
    if (nvalues > 0) {
        p.num = malloc((size_t)nvalues * sizeof *p.num);
        if (p.num) {
            p.nnum = nvalues;
            for (int i = 0; i < nvalues; i++) p.num[i] = -1;
        }
    }
    bool kernel = f->kind == IR_FUNC_KERNEL;
    fprintf(out, "%s @%s(", kernel ? "kernel" : "fn", f->name ? f->name : "<anon>");
    for (int i = 0; i < f->nparams; i++) {
        if (i) fputs(", ", out);
        print_param(&p, &f->params[i]);
    }
    fputc(')', out);
    if (!kernel) {
        fputs(" -> (", out);
        for (int i = 0; i < f->nresults; i++) {
            if (i) fputs(", ", out);
            print_type(&p, &f->result_types[i]);
        }
        fputc(')', out);
    }
    if (f->nconsts > 0) {
        fputs(" consts(", out);
        for (int i = 0; i < f->nconsts; i++) {
            const ir_const_binding *c = &f->consts[i];
            fprintf(out, "%s%s=%s%s", i ? ", " : "", c->name ? c->name : "?",
                    c->value ? c->value : "?", c->was_auto ? " auto" : "");
        }
        fputc(')', out);
    }
    fputs(" {\n", out);
    if (kernel) {
        fputs("grid:\n", out);
        if (f->grid) print_block(&p, f->grid, 1);
        fputs("body:\n", out);
    }
    if (f->body) print_block(&p, f->body, 1);
    fputs("}\n", out);
    free(p.num);
}

void ir_print_module_attrs(FILE *out, const ir_module *m)
{
    if (m->stage != IR_STAGE_SCHEDULED) return;
    const ir_target_attrs *t = &m->target;
    fprintf(out, "module scheduled, arch=%s, num_warps=%d, smem_budget=%d, num_stages=%d\n\n",
            t->arch ? t->arch : "?", t->num_warps, t->smem_budget, t->num_stages);
}

void ir_print_module(FILE *out, const ir_module *m)
{
    ir_print_module_attrs(out, m);
    for (const ir_func *f = m->first; f; f = f->next) {
        if (f != m->first) fputc('\n', out);
        ir_print_func(out, f);
    }
}
