#!/bin/sh
# Run each test executable given as an argument, show its output, and end
# with the totals over all of them as "N passed, N failed". Exits non-zero
# if any check failed or any executable crashed.
passed=0
failed=0
status=0
for t in "$@"; do
    name=$(basename "$t")
    echo "== $name"
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
        passed=$((passed + p))
        failed=$((failed + f))
    fi
    if [ $rc -ne 0 ]; then
        status=1
        if [ -z "$line" ] || [ "${f:-0}" -eq 0 ]; then
            echo "$name: exited with status $rc without reporting a failed check"
            failed=$((failed + 1))
        fi
    fi
done
echo
echo "$passed passed, $failed failed"
exit $status
