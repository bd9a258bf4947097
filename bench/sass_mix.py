#!/usr/bin/env python3
"""sass_mix.py - the instruction mix of a kernel's loops, from its SASS.

    cuobjdump -sass K.cubin | python3 bench/sass_mix.py [--name NAME]
    (or nvdisasm -c K.cubin | ...)

Finds every backward branch (a loop: its body runs from the branch target to
the branch) and prints, per loop, the instruction count by class: tensor-core
MMAs (HMMA / HGMMA), shared-memory matrix loads (LDSM), async global->shared
copies (LDGSTS), other shared loads/stores, global memory, special functions
(MUFU: exp2), float ALU, integer/address ALU, barriers and the rest, and the
number of issue slots per MMA.  What it tells: in a loop bound by the tensor
cores, MMAs dominate; every other instruction costs an issue slot of the
same warp scheduler (bench/RESULTS.md reads it against FlashAttention-2).
"""
import argparse
import re
import sys

CLASSES = [
    ("mma", re.compile(r"^(HMMA|HGMMA|IMMA)")),
    ("ldsm", re.compile(r"^LDSM")),
    ("ldgsts", re.compile(r"^(LDGSTS|LDGDEPBAR|DEPBAR)")),
    ("shared", re.compile(r"^(LDS|STS|ATOMS)")),
    ("global", re.compile(r"^(LDG|STG|RED|ATOMG|LD|ST)\b")),
    ("mufu", re.compile(r"^MUFU")),
    ("fp", re.compile(r"^(FFMA|FMUL|FADD|FMNMX|FSEL|FSETP|FCHK|F2F|F2FP|HADD2|HMUL2|HFMA2|FMNMX)")),
    ("shuffle", re.compile(r"^SHFL")),
    ("bar", re.compile(r"^(BAR|WARPSYNC|BSYNC|BSSY)")),
    ("int", re.compile(r"^(IADD|IMAD|LEA|LOP|SHF|ISETP|SEL|MOV|IABS|I2F|F2I|PRMT|SGXT|VIADD|IMNMX|ULDC|UIADD|UMOV|ULOP|USHF|ULEA|UISETP|USEL|S2R|S2UR|CS2R|R2UR|PLOP3|P2R|R2P|VOTE|POPC|FLO|BREV)")),
    ("branch", re.compile(r"^(BRA|EXIT|RET|CALL|BRX|JMP|NOP)")),
]

INSN = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")
LABEL = re.compile(r"^\s*(\.L_x_\d+):")


def parse(lines):
    """[(address, opcode, operands)], {label: address}."""
    insns, labels, pending = [], {}, []
    for line in lines:
        m = LABEL.match(line)
        if m:
            pending.append(m.group(1))
            continue
        m = INSN.search(line)
        if not m:
            continue
        addr = int(m.group(1), 16)
        for lab in pending:
            labels[lab] = addr
        pending = []
        insns.append((addr, m.group(3), m.group(4)))
    return insns, labels


def target_of(operands, labels):
    m = re.search(r"`?\(?(\.L_x_\d+)\)?", operands)
    if m and m.group(1) in labels:
        return labels[m.group(1)]
    m = re.search(r"0x([0-9a-f]+)", operands)
    return int(m.group(1), 16) if m else None


def classify(op):
    for name, rx in CLASSES:
        if rx.match(op):
            return name
    return "other"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="")
    args = ap.parse_args()
    insns, labels = parse(sys.stdin)
    loops = []
    for addr, op, operands in insns:
        if op.startswith("BRA"):
            t = target_of(operands, labels)
            if t is not None and t < addr:
                loops.append((t, addr))
    names = [c for c, _ in CLASSES] + ["other"]
    print(f"{args.name}: {len(insns)} instructions, {len(loops)} loops")
    print(f"{'loop':>15} {'insns':>6} " + " ".join(f"{n:>7}" for n in names) + "  slots/mma")
    whole = (0, insns[-1][0] if insns else 0)
    for lo, hi in sorted(set(loops), key=lambda r: r[1] - r[0], reverse=True)[:6] + [whole]:
        counts = {n: 0 for n in names}
        body = [i for i in insns if lo <= i[0] <= hi]
        for _, op, _ in body:
            counts[classify(op)] += 1
        per = len(body) / counts["mma"] if counts["mma"] else float("nan")
        tag = "kernel" if (lo, hi) == whole else f"{lo:05x}-{hi:05x}"
        print(f"{tag:>15} {len(body):6d} " + " ".join(f"{counts[n]:7d}" for n in names) + f"  {per:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
