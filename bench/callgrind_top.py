#!/usr/bin/env python3
"""Own (exclusive) instructions per function from a callgrind dump.

callgrind_annotate 3.19 puts every instruction of a dump taken with
callgrind_control -z/-d under the thread entry point (clone) when asked for
exclusive costs, so this reads the file format directly: each cost line
belongs to the current fn=, except the line that follows calls=, which is
the callee's inclusive cost.

usage: callgrind_top.py FILE [N]   prints "instructions<TAB>function" lines
"""

import re
import sys
from collections import Counter

NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")


def main() -> None:
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    names: dict[str, str] = {}
    own: Counter[str] = Counter()
    fn = "?"
    after_call = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                m = NAME.match(line[3:].strip())
                if m:
                    if m.group(2) is not None:
                        names[m.group(1)] = m.group(2)
                    fn = names.get(m.group(1), "?")
                else:
                    fn = line[3:].strip()
                after_call = False
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    own[fn] += int(parts[1])
            elif line.startswith(("cfn=", "cfi=", "cfl=", "cob=")):
                # callee names are defined here too
                m = NAME.match(line.split("=", 1)[1].strip())
                if line.startswith("cfn=") and m and m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
    for name, ir in own.most_common(top):
        print(f"{ir}\t{name}")


if __name__ == "__main__":
    main()
