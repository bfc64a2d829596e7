"""The names README.md's Reference section documents: every backticked
name in the first column of its table, and in the "Internal:" paragraph
after it. Prints one per line, sorted, with its kind ("object" for table
rows, "internal" for the paragraph)."""
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
section = text.split("\n## Reference\n", 1)[1].split("\n## ", 1)[0]
names = set()
for line in section.splitlines():
    if line.startswith("| `"):
        first_cell = line.split("|")[1]
        for token in re.findall(r"`([^`]+)`", first_cell):
            names.add(token.split("(")[0].strip())
internal = section.split("Internal:", 1)[1] if "Internal:" in section else ""
internal = internal.split("Running `", 1)[0]
for token in re.findall(r"`([a-z_][a-z0-9_]*)`", internal):
    names.add(token)
print("\n".join(sorted(names)))
