#!/bin/sh
# No two modules of src/ include each other in a loop (issue 10, item 4):
# a loop means neither side can change or be tested alone.  A module is a
# .c/.h pair; NAME_priv.h belongs to NAME (tests/tools/include_cycles.py).
set -eu
src=${top_srcdir:?"run through make check (top_srcdir)"}/src
exec python3 "$top_srcdir/tests/tools/include_cycles.py" "$src"
