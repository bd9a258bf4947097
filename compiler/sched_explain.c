/* sched_explain.c - tilec --explain: the scheduler's candidate table and
 * the HBM passes per tensor, as text for people or JSON for tools.  Both
 * print the same facts from the same plan (sched_choose.h). */
#include "sched_choose.h"
#include "sched_layout.h"

#include <math.h>
#include <string.h>

static void values_text(FILE *out, const sched_plan *p, const sched_candidate *c)
{
    for (int i = 0; i < p->nautos; i++)
        fprintf(out, "%s%s=%-4lld", i ? " " : "", p->names[i], (long long)c->values[i]);
}

static double intensity(const sched_cost *c)
{
    return c->hbm_bytes > 0 ? c->flops / c->hbm_bytes : 0;
}

static void shape_text(FILE *out, const sched_plan *p)
{
    fprintf(out, "shape:");
    for (int i = 0; i < p->shape.n; i++)
        fprintf(out, " %s=%lld", p->shape.names[i], (long long)p->shape.values[i]);
    fprintf(out, "%s (other dimensions %d)\n", p->shape.n ? "" : " (none given)", SCHED_DEFAULT_DIM);
}

void sched_explain_text(FILE *out, const sched_plan *p)
{
    const ir_target *t = p->target;
    fprintf(out, "schedule of %s for %s (%d SMs, %d KB shared memory per block, %.2f TB/s, "
            "%.0f TFLOP/s mma", p->kernel, t->arch, t->sm_count, t->smem_per_block / 1024,
            t->hbm_bytes_per_s / 1e12, t->mma_flops_per_s / 1e12);
    if (sched_wgmma_enabled(t) && t->wgmma_flops_per_s > 0)
        fprintf(out, ", %.0f wgmma", t->wgmma_flops_per_s / 1e12);
    fprintf(out, ", %.0f T elementwise ops/s, %.1f T exp/s)\n", t->alu_ops_per_s / 1e12,
            t->sfu_ops_per_s / 1e12);
    shape_text(out, p);
    fprintf(out, "%-3s %-*s %5s %6s %8s %5s %6s %10s %10s %6s %6s %10s %-7s %s\n", "", p->nautos * 9,
            p->nautos ? "constants" : "", "warps", "stages", "smem", "regs", "blk/SM", "HBM MB",
            "GFLOP", "AI", "waves", "time us", "bound", "verdict");
    for (int i = 0; i < p->ncand; i++) {
        const sched_candidate *c = &p->cand[i];
        const sched_cost *k = &c->cost;
        fprintf(out, "%-3s ", i == p->best ? "=>" : "");
        if (p->nautos) values_text(out, p, c), fputc(' ', out);
        fprintf(out, "%5d %6d ", c->num_warps, c->num_stages);
        if (!c->compiled) {
            fprintf(out, "%8s %5s %6s %10s %10s %6s %6s %10s %-7s rejected: %s\n", "-", "-", "-", "-",
                    "-", "-", "-", "-", "-", c->reject);
            continue;
        }
        char smem[24];
        snprintf(smem, sizeof smem, "%s%d", c->exact ? "" : ">=", k->smem_bytes);
        fprintf(out, "%8s %5d %6d %10.2f %10.2f %6.1f %6.2f %10.2f %-7s %s%s\n", smem,
                k->regs, k->blocks_per_sm, k->hbm_bytes / 1e6, k->flops / 1e9, intensity(k),
                k->waves, k->time_s * 1e6, k->bound, c->reject ? "rejected: " : "",
                c->reject ? c->reject : i != p->best ? "fits"
                : c->over_regs ? "chosen (every candidate is over the register model: "
                                 "ptxas may spill)" : "chosen");
    }
    if (p->best < 0) {
        fprintf(out, "no candidate fits\n");
        return;
    }
    const sched_candidate *b = &p->cand[p->best];
    fprintf(out, "chosen: ");
    if (p->nautos) values_text(out, p, b), fputc(' ', out);
    fprintf(out, "warps=%d stages=%d: %.2f us, %s-bound; %d blocks/SM (limit: %s), %lld programs "
            "in %.0f waves (%.0f%% full)%s\n", b->num_warps, b->num_stages, b->cost.time_s * 1e6,
            b->cost.bound, b->cost.blocks_per_sm, b->cost.occupancy_limit,
            (long long)b->cost.programs, b->cost.waves, b->cost.wave_eff * 100,
            !b->cost.trips_exact ? "; a loop bound depends on data: counted once"
            : b->cost.trips_bounded ? "; a loop bound reads data: taken at its asserted maximum" : "");
    if (p->nautos == 0 && p->model_best == p->best)
        fprintf(out, "explicit constants: the model's lowest row, more than 3%% below the default "
                "warps and stages (--warps N, --stages S set them)\n");
    else if (p->nautos == 0 && p->model_best >= 0) {
        const sched_candidate *m = &p->cand[p->model_best];
        fprintf(out, "explicit constants: the default warps (for the tile sizes) and stages, as "
                "the model's lowest row (warps=%d stages=%d, %.2f us) %s (--warps N, --stages S "
                "set them)\n", m->num_warps, m->num_stages, m->cost.time_s * 1e6,
                m->cost.loop_dots == 0 ? "has no dot in a loop, the register model's ground"
                                       : "is not 3% lower");
    }
    fprintf(out, "HBM passes per tensor (bytes moved / tensor size):\n");
    for (int i = 0; i < b->cost.ntensors; i++) {
        const sched_tensor *s = &b->cost.tensors[i];
        if (s->size_bytes <= 0) continue;
        fprintf(out, "  %-10s %10.2f MB  read %6.2f passes  written %6.2f passes\n", s->name,
                s->size_bytes / 1e6, s->read_bytes / s->size_bytes, s->written_bytes / s->size_bytes);
    }
    fprintf(out, "derived key ranges (block skipping):");
    if (!sched_explain_ranges || sched_explain_ranges(out, p, false) == 0)
        fprintf(out, " not analysed\n");
    fprintf(out, "scheduled in %.1f ms\n", p->seconds * 1e3);
}

/* JSON strings: the names and messages here are identifiers and ASCII
 * diagnostics, but escape what JSON requires anyway. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(out, "\\%c", ch);
        else if (ch < 0x20) fprintf(out, "\\u%04x", ch);
        else fputc(ch, out);
    }
    fputc('"', out);
}

static void json_num(FILE *out, double x)
{
    if (isfinite(x)) fprintf(out, "%.6g", x);
    else fputs("null", out);
}

static void json_cost(FILE *out, const sched_cost *k)
{
    fprintf(out, ", \"smem_bytes\": %d, \"codegen_smem_bytes\": %d, \"staged_bytes_per_stage\": %d"
            ", \"registers\": %d, \"live_tile_registers\": %d, "
            "\"scheduled_live_registers\": %d, \"fragment_registers\": %d, "
            "\"loop_dots\": %d, \"loop_wgmma_dots\": %d, \"dot_operand_in_registers\": %s, "
            "\"staged_register_reads\": %s, \"blocks_per_sm\": %d, \"occupancy_limit\": ",
            k->smem_bytes, k->cg_smem_bytes, k->staged_bytes, k->regs, k->live_regs, k->sched_live_regs,
            k->sched_frag_regs, k->loop_dots, k->sched_wgmma_dots, k->unpipelined ? "true" : "false",
            k->staged_reads ? "true" : "false", k->blocks_per_sm);
    json_str(out, k->occupancy_limit);
    fprintf(out, ", \"programs\": %lld", (long long)k->programs);
    /* The numbers, in microseconds where they are times. */
    const struct { const char *key; double x; } nums[] = {
        {"hbm_bytes", k->hbm_bytes}, {"flops", k->flops}, {"arithmetic_intensity", intensity(k)},
        {"waves", k->waves}, {"memory_us", k->t_mem * 1e6}, {"l2_us", k->t_l2 * 1e6},
        {"compute_us", k->t_compute * 1e6}, {"tensor_us", k->t_tensor * 1e6},
        {"elementwise_us", k->t_alu * 1e6}, {"smem_us", k->t_smem * 1e6},
        {"inner_iterations", k->inner_iters}, {"wave_efficiency", k->wave_eff},
        {"compute_efficiency", k->compute_eff}, {"round_trip_us", k->round_trip_s * 1e6},
        {"exposed_latency_us", k->exposed_s * 1e6}, {"dot_wait_us", k->dot_wait_s * 1e6},
        {"latency_efficiency", k->latency_eff}, {"time_us", k->time_s * 1e6},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        fprintf(out, ", \"%s\": ", nums[i].key);
        json_num(out, nums[i].x);
    }
    fputs(", \"bound\": ", out);
    json_str(out, k->bound);
    fprintf(out, ", \"trips_exact\": %s, \"trips_bounded\": %s", k->trips_exact ? "true" : "false",
            k->trips_bounded ? "true" : "false");
}

void sched_explain_json(FILE *out, const sched_plan *p)
{
    fputs("{\"kernel\": ", out);
    json_str(out, p->kernel);
    fputs(", \"target\": ", out);
    json_str(out, p->target->arch);
    fputs(", \"shape\": {", out);
    for (int i = 0; i < p->shape.n; i++) {
        fputs(i ? ", " : "", out);
        json_str(out, p->shape.names[i]);
        fprintf(out, ": %lld", (long long)p->shape.values[i]);
    }
    fprintf(out, "}, \"default_dim\": %d, \"auto\": [", SCHED_DEFAULT_DIM);
    for (int i = 0; i < p->nautos; i++) {
        fputs(i ? ", " : "", out);
        json_str(out, p->names[i]);
    }
    fputs("], \"candidates\": [", out);
    for (int i = 0; i < p->ncand; i++) {
        const sched_candidate *c = &p->cand[i];
        fputs(i ? ",\n  {" : "\n  {", out);
        fputs("\"values\": {", out);
        for (int v = 0; v < p->nautos; v++) {
            fputs(v ? ", " : "", out);
            json_str(out, p->names[v]);
            fprintf(out, ": %lld", (long long)c->values[v]);
        }
        fprintf(out, "}, \"warps\": %d, \"stages\": %d, \"chosen\": %s, \"exact\": %s",
                c->num_warps, c->num_stages, i == p->best ? "true" : "false",
                c->exact ? "true" : "false");
        if (c->compiled) json_cost(out, &c->cost);
        fputs(", \"verdict\": ", out);
        json_str(out, c->reject ? c->reject : i == p->best ? "chosen" : "fits");
        fputs("}", out);
    }
    fprintf(out, "],\n \"chosen\": %d, \"model_lowest\": %d, \"tensors\": [", p->best,
            p->model_best >= 0 ? p->model_best : p->best);
    const sched_candidate *b = p->best >= 0 ? &p->cand[p->best] : NULL;
    bool first = true;
    for (int i = 0; b && i < b->cost.ntensors; i++) {
        const sched_tensor *s = &b->cost.tensors[i];
        if (s->size_bytes <= 0) continue;
        fputs(first ? "" : ", ", out);
        first = false;
        fputs("{\"name\": ", out);
        json_str(out, s->name);
        fputs(", \"size_bytes\": ", out);
        json_num(out, s->size_bytes);
        fputs(", \"read_passes\": ", out);
        json_num(out, s->read_bytes / s->size_bytes);
        fputs(", \"written_passes\": ", out);
        json_num(out, s->written_bytes / s->size_bytes);
        fputs("}", out);
    }
    fputs("], \"key_ranges\": [", out);
    if (sched_explain_ranges) sched_explain_ranges(out, p, true);
    fputs("], \"seconds\": ", out);
    json_num(out, p->seconds);
    fputs("}\n", out);
}
