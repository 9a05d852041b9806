#!/bin/sh
# House-style checks on C sources: no line over 100 columns (tabs count 4),
# no tabs, no trailing whitespace. Prints offenders; exits 1 if any.
bad=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]')
for f in $files; do
    [ -f "$f" ] || continue
    r=$(expand -t 4 "$f" | awk -v f="$f" 'length($0) > 100 { print f ":" NR ": " length($0) " columns" }')
    [ -n "$r" ] && { echo "$r"; bad=1; }
    if grep -nP '\t' "$f" >/dev/null; then echo "$f: contains tabs"; bad=1; fi
    if grep -nE ' +$' "$f" >/dev/null; then echo "$f: trailing whitespace"; bad=1; fi
done
[ $bad -eq 0 ] && echo "lint: ok"
exit $bad
