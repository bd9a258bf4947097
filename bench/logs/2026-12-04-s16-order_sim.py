import heapq
def sim(order, dur, slots):
    h=[0.0]*slots; heapq.heapify(h); end=0
    for p in order:
        t=heapq.heappop(h); t+=dur[p]; end=max(end,t); heapq.heappush(h,t)
    return end
def run(L,D,BM,BN,slots,c=1.0):
    Z=16384//L; H=2048//D; nh=Z*H; nqb=L//BM
    def d(qb): return c + (qb+1)*BM/BN  # key blocks visited (causal), c=fixed overhead in block units
    total=sum(d(q) for q in range(nqb))*nh
    ideal=total/slots
    # current: x = qblock reversed fastest, y = head
    cur=[(nqb-1-x) for y in range(nh) for x in range(nqb)]
    dur={}
    cur_d=[d(q) for q in cur]
    m_cur=sim(range(len(cur_d)),cur_d,slots)
    # fully LPT: all heads' heaviest first
    lpt=[d(nqb-1-x) for x in range(nqb) for y in range(nh)]
    m_lpt=sim(range(len(lpt)),lpt,slots)
    res=[]
    for G in (4,8,16):
        g=[d(nqb-1-x) for grp in range(nh//G) for x in range(nqb) for y in range(G)]
        res.append((G, sim(range(len(g)),g,slots)/ideal))
    print(f"L={L} D={D} BM={BM} BN={BN} slots={slots}: cur {m_cur/ideal:.3f} lpt {m_lpt/ideal:.3f} groups", " ".join(f"{G}:{r:.3f}" for G,r in res))
for c in (0.5,2.0):
  print("c",c)
  run(4096,128,128,128,132,c); run(1024,128,128,128,132,c)
  run(4096,64,64,64,396,c); run(1024,64,64,64,396,c)
  run(16384,128,128,128,132,c); run(16384,64,64,64,396,c)
print("budget groups")
def run2(L,D,BM,BN,slots,c=1.0):
    Z=16384//L; H=2048//D; nh=Z*H; nqb=L//BM
    G=max(1,4194304//(L*D))
    def d(qb): return c + (qb+1)*BM/BN
    total=sum(d(q) for q in range(nqb))*nh; ideal=total/slots
    order=[]
    p=0
    for p in range(nh*nqb):
        grp=p//(G*nqb); gs=min(G,nh-grp*G); r=p-grp*G*nqb
        order.append(d(nqb-1-r//gs))
    print(f"L={L} D={D} G={G}: {sim(range(len(order)),order,slots)/ideal:.3f}")
for a in [(4096,128,128,128,132),(1024,128,128,128,132),(4096,64,64,64,396),(1024,64,64,64,396),(16384,128,128,128,132),(16384,64,64,64,396),(4096,64,128,64,264),(1024,64,128,64,264)]:
    run2(*a)
