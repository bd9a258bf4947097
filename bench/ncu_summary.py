"""ncu_summary.py PREFIX - the few numbers of one ncu report that say where the cycles went.

Reads PREFIX.details.csv, PREFIX.raw.csv and PREFIX.sass.csv (bench/ncu_check.sh
writes them) and prints: the details page's headline metrics, the warp stall
reasons per issued instruction (largest first), the pipes' utilisation, and
the SASS instructions with the most stall samples.  Missing files or columns
are skipped with a note (the CSV layout differs between ncu versions)."""
import csv
import re
import sys

HEADLINE = ("Duration", "Elapsed Cycles", "SM Frequency", "Compute (SM) Throughput", "Memory Throughput",
            "Registers Per Thread", "Achieved Occupancy", "Issue Slots Busy", "Issued Ipc Active",
            "Warp Cycles Per Issued Instruction", "Avg. Active Threads Per Warp", "L1/TEX Hit Rate",
            "L2 Hit Rate", "DRAM Throughput", "Dynamic Shared Memory Per Block", "Waves Per SM",
            "Block Limit Registers", "Theoretical Occupancy", "Executed Ipc Active", "Mem Busy",
            "Local Memory Spilling Requests", "Shared Store Bank Conflicts", "Shared Load Bank Conflicts")


def read(path):
    try:
        with open(path, newline="") as f:
            return [r for r in csv.reader(f) if r and not r[0].startswith("==")]
    except OSError as e:
        print(f"  ({path}: {e})")
        return []


def details(prefix):
    rows = read(prefix + ".details.csv")
    if not rows:
        return
    h = rows[0]
    try:
        mi, ui, vi = h.index("Metric Name"), h.index("Metric Unit"), h.index("Metric Value")
    except ValueError:
        print("  (details: no Metric Name column)")
        return
    seen = set()
    for r in rows[1:]:
        if len(r) > vi and r[mi] in HEADLINE and r[mi] not in seen:
            seen.add(r[mi])
            print(f"  {r[mi]:<40} {r[vi]:>14} {r[ui]}")


def raw(prefix):
    rows = read(prefix + ".raw.csv")
    if len(rows) < 3:
        return
    names, units, vals = rows[0], rows[1], rows[2]
    def num(s):
        try:
            return float(s.replace(",", ""))
        except ValueError:
            return None
    stalls = []
    pipes = []
    for n, u, v in zip(names, units, vals):
        x = num(v)
        if x is None:
            continue
        m = re.match(r"smsp__average_warps?_issue_stalled_(\w+)_per_issue_active\.ratio$", n)
        if m:
            stalls.append((x, m.group(1)))
        elif re.match(r"sm__(inst_executed_)?pipe_\w+\.(avg\.)?pct_of_peak_sustained_active$", n) and x > 0.5:
            pipes.append((x, n))
    if stalls:
        print("  warp stalls, cycles per issued instruction (largest first):")
        for x, s in sorted(stalls, reverse=True)[:12]:
            print(f"    {s:<28} {x:8.2f}")
    if pipes:
        print("  pipes, % of peak while active:")
        for x, n in sorted(pipes, reverse=True)[:14]:
            print(f"    {n:<70} {x:6.1f}")


def sass(prefix, top=30):
    rows = read(prefix + ".sass.csv")
    # ncu 2025 starts the page with a "Kernel Name" line: the header is the
    # first row that names the Source column
    start = next((i for i, r in enumerate(rows[:10]) if "Source" in r), None)
    if start is None or len(rows) < start + 2:
        print("  (sass page: no Source column in " + prefix + ".sass.csv)")
        return
    rows = rows[start:]
    h = rows[0]
    col = next((i for i, c in enumerate(h) if c.startswith("Warp Stall Sampling (All")), None)
    src = next((i for i, c in enumerate(h) if c == "Source"), None)
    if col is None or src is None:
        print("  (sass page columns: " + ", ".join(h[:12]) + ")")
        return
    body = []
    for r in rows[1:]:
        try:
            body.append((float(r[col].replace(",", "") or 0), r[src], r))
        except (ValueError, IndexError):
            pass
    total = sum(b[0] for b in body) or 1.0
    print(f"  SASS: {len(body)} instructions, {int(total)} stall samples; top {top}:")
    for x, s, r in sorted(body, key=lambda b: -b[0])[:top]:
        print(f"    {100 * x / total:5.1f}%  {s[:100]}")
    ops = {}
    for x, s, _ in body:
        op = s.split()[0] if s.split() else "?"
        if op.startswith("@"):
            op = s.split()[1] if len(s.split()) > 1 else op
        op = op.split(".")[0]
        ops[op] = ops.get(op, 0) + x
    print("  stall samples by opcode: " + ", ".join(f"{k} {100 * v / total:.1f}%"
                                                     for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:12]))


def main():
    for prefix in sys.argv[1:]:
        print(f"== {prefix}")
        details(prefix)
        raw(prefix)
        sass(prefix)


if __name__ == "__main__":
    main()
