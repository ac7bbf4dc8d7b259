#!/usr/bin/env bash
# Builds the deployable function app:
#   dist/app/             host.json, xelwatch (linux/amd64, static, +x),
#                         AuditBlob/ AuditSweep/ Notifier/ AuditControl/ (function.json each)
#   dist/xelwatch-app.zip the same, zipped with the exec bit kept
# The Functions host wants host.json and the function folders at the app
# root, and the executable named as host.json's defaultExecutablePath.
# Usage: .ci/package.sh [--check]   (--check: build, then verify the layout)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=dist/app
zip=dist/xelwatch-app.zip
exe=$(sed -n 's/.*"defaultExecutablePath": *"\([^"]*\)".*/\1/p' host.json)
[ -n "$exe" ] || { echo "package: no defaultExecutablePath in host.json" >&2; exit 1; }

rm -rf "$out" "$zip"
mkdir -p "$out"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w' -o "$out/$exe" .
chmod 0755 "$out/$exe"
cp host.json "$out/"
for f in functions/*/function.json; do
	name=$(basename "$(dirname "$f")")
	mkdir -p "$out/$name"
	cp "$f" "$out/$name/function.json"
done

# zip with Python's zipfile (keeps the mode bits explicitly), else Info-ZIP.
if command -v python3 >/dev/null; then
	python3 - "$out" "$zip" <<'PY'
import os, sys, zipfile, stat
root, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = os.path.join(d, f)
            info = zipfile.ZipInfo.from_file(p, os.path.relpath(p, root))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix: keep the mode bits
            info.external_attr = (stat.S_IMODE(os.stat(p).st_mode) | stat.S_IFREG) << 16
            with open(p, "rb") as fh:
                z.writestr(info, fh.read())
PY
else
	(cd "$out" && zip -qr -X "../$(basename "$zip")" .)
fi

if [ "${1:-}" = "--check" ]; then
	fail() { echo "package check: $*" >&2; exit 1; }
	[ -x "$out/$exe" ] || fail "$exe is not executable"
	file_out=$(head -c 4 "$out/$exe" | od -An -c | tr -d ' ')
	[ "$file_out" = "177ELF" ] || fail "$exe is not an ELF binary"
	[ -f "$out/host.json" ] || fail "host.json missing at the root"
	for f in functions/*/function.json; do
		name=$(basename "$(dirname "$f")")
		[ -f "$out/$name/function.json" ] || fail "$name/function.json missing at the root"
	done
	python3 - "$zip" "$exe" <<'PY' || fail "zip layout"
import sys, zipfile, stat
z = zipfile.ZipFile(sys.argv[1]); names = set(z.namelist())
need = {"host.json", sys.argv[2], "AuditBlob/function.json", "AuditSweep/function.json", "Notifier/function.json", "AuditControl/function.json"}
missing = need - names
if missing: sys.exit("missing in zip: %s" % sorted(missing))
mode = z.getinfo(sys.argv[2]).external_attr >> 16
if not mode & stat.S_IXUSR: sys.exit("exec bit lost in zip")
PY
	echo "package check: ok ($zip)"
fi
echo "built $out and $zip" >&2
