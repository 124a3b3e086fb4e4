#!/usr/bin/env python3
"""Modules of src/ must not include each other in a loop.

A module is a .c/.h pair named after what it owns; a NAME_priv.h header
belongs to module NAME.  An edge A -> B means a file of A includes B's
header ("b.h" or "b_priv.h").  Every strongly connected group of more than
one module is a loop: printed with its edges, and the exit status is 1.

Usage: include_cycles.py SRC_DIR
"""
import os
import re
import sys

INCLUDE = re.compile(r'\s*#\s*include\s+"([^"/]+)\.h"')


def module(stem):
    return stem[:-len("_priv")] if stem.endswith("_priv") else stem


def graph(src):
    edges = {}
    for name in sorted(os.listdir(src)):
        stem, ext = os.path.splitext(name)
        if ext not in (".c", ".h"):
            continue
        mod = module(stem)
        edges.setdefault(mod, set())
        with open(os.path.join(src, name), encoding="utf-8") as f:
            for line in f:
                m = INCLUDE.match(line)
                if m and module(m.group(1)) != mod:
                    edges[mod].add(module(m.group(1)))
    return edges


def loops(edges):
    """Tarjan's strongly connected components, iteratively."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    group.append(top)
                    if top == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    edges = graph(sys.argv[1])
    bad = loops(edges)
    for group in bad:
        print("include loop among: " + ", ".join(group))
        for mod in group:
            inside = sorted(edges[mod] & set(group))
            print("  %s includes %s" % (mod, ", ".join(inside)))
    if bad:
        print("Break each loop: move what both sides need into a module of its own.")
        return 1
    print("no include loops among %d modules of %s" % (len(edges), sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
