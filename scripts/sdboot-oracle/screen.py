#!/usr/bin/env python3
"""Reads the serial log of a firmware console (OVMF's terminal: VT100 cursor moves,
SGR colours, UTF-8 or PC box characters) and prints systemd-boot's menu as JSON:
{"entries": [{"title": ..., "selected": bool}], "status": "Boot in 30 s."}.

The screen is replayed up to the first countdown line ("Boot in N s."), the moment
the whole menu has been drawn once. An entry is a line drawn between the top and
the countdown; the selected one is drawn black on white (SGR 30;47)."""
import json
import re
import sys

ROWS, COLS = 25, 200


def main():
    data = open(sys.argv[1], "rb").read().decode("latin-1")
    screen = [[" "] * COLS for _ in range(ROWS)]
    inverse = [[False] * COLS for _ in range(ROWS)]
    row = col = 0
    inv = False
    i = 0
    status = None
    csi = re.compile(r"\x1b\[([=?]?[0-9;]*)([A-Za-z])")
    while i < len(data):
        m = csi.match(data, i)
        if m:
            args, cmd = m.group(1), m.group(2)
            i = m.end()
            if cmd == "H":
                p = [int(x) if x else 1 for x in args.split(";")] if args else [1, 1]
                row, col = p[0] - 1, (p[1] - 1 if len(p) > 1 else 0)
            elif cmd == "J" and args == "2":
                screen = [[" "] * COLS for _ in range(ROWS)]
                inverse = [[False] * COLS for _ in range(ROWS)]
            elif cmd == "m":
                for a in (args or "0").split(";"):
                    if a == "47":
                        inv = True
                    elif a in ("40", "0"):
                        inv = False
            continue
        ch = data[i]
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row = min(row + 1, ROWS - 1)
        elif ch == "\x1b":
            continue
        elif 0 <= row < ROWS and 0 <= col < COLS:
            screen[row][col] = ch
            inverse[row][col] = inv
            col += 1
        line = "".join(screen[row]).strip()
        if re.fullmatch(r"Boot in \d+ s\.", line) and ch == ".":
            status = line
            break
    entries = []
    for r in range(ROWS):
        text = "".join(screen[r]).strip()
        if not text or text == status or not all(c.isprintable() for c in text):
            continue
        first = len("".join(screen[r])) - len("".join(screen[r]).lstrip())
        entries.append({"title": text, "selected": inverse[r][first]})
    # Lines before the menu (firmware messages) are cleared by systemd-boot's
    # own clear screen; a log with no countdown had no menu.
    json.dump({"entries": entries if status else [], "status": status}, sys.stdout, indent=1)
    print()
    return 0 if status else 1


if __name__ == "__main__":
    sys.exit(main())
