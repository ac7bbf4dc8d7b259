#!/usr/bin/env bash
# infra/check.sh — offline checks of infra/, run by .ci/run:
#   1. every infra/**/*.bicep parses (tree-sitter-bicep), uses only verified
#      resource type@API-version pairs (infra/check/api-versions.txt) and its
#      modules are wired right (infra/check/parse.js); the checker itself must flag the
#      deliberately broken files in infra/check/testdata;
#   2. bash -n on every infra/**/*.sh;
#   3. shellcheck on them (installed with apt-get when missing and possible,
#      otherwise skipped with a message);
#   4. infra/check/deploy_test.sh: deploy.sh against a fake az.
# The npm packages go to ${XELWATCH_CACHE:-<repo>/.cache}/bicep-check, once.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE="${XELWATCH_CACHE:-$ROOT/.cache}/bicep-check"
TREE_SITTER=0.22.4
TREE_SITTER_BICEP=1.1.0

fail() {
	printf 'infra/check: FAIL: %s\n' "$*" >&2
	exit 1
}

command -v node >/dev/null 2>&1 || fail "node is required for the Bicep syntax check"
command -v npm >/dev/null 2>&1 || fail "npm is required to install tree-sitter-bicep"

installed() { # installed PACKAGE VERSION
	local v
	v=$(node -p "require('$CACHE/node_modules/$1/package.json').version" 2>/dev/null || true)
	[ "$v" = "$2" ]
}
if ! installed tree-sitter "$TREE_SITTER" || ! installed tree-sitter-bicep "$TREE_SITTER_BICEP"; then
	echo "infra/check: installing tree-sitter@$TREE_SITTER tree-sitter-bicep@$TREE_SITTER_BICEP into $CACHE"
	mkdir -p "$CACHE"
	[ -f "$CACHE/package.json" ] || echo '{"private":true}' >"$CACHE/package.json"
	npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error \
		"tree-sitter@$TREE_SITTER" "tree-sitter-bicep@$TREE_SITTER_BICEP" >&2
fi
export NODE_PATH="$CACHE/node_modules"

# ---- 1. Bicep ------------------------------------------------------------------
mapfile -t bicep_files < <(find infra -name '*.bicep' -not -path 'infra/check/testdata/*' | sort)
[ "${#bicep_files[@]}" -gt 0 ] || fail "no .bicep files found under infra/"
node infra/check/parse.js "${bicep_files[@]}" || fail "Bicep check failed"

# The checker must catch what it claims to catch.
expect() { # expect FILE WANT_RC PATTERN...
	local file=$1 want=$2 out rc
	shift 2
	set +e
	out=$(node infra/check/parse.js "infra/check/testdata/$file" 2>&1)
	rc=$?
	set -e
	[ "$rc" = "$want" ] || fail "self-test: parse.js $file exited $rc, want $want; output:
$out"
	for pat in "$@"; do
		grep -qF -- "$pat" <<<"$out" || fail "self-test: parse.js $file output lacks '$pat'; output:
$out"
	done
}
expect good.bicep 0 "0 problem(s)"
expect bad-syntax.bicep 1 "bad-syntax.bicep:3:1: syntax error"
expect bad-module.bicep 1 \
	"bad-module.bicep:3:24: import: nowhere.bicep does not exist" \
	"bad-module.bicep:8:5: module child: child.bicep has no parameter 'colour'" \
	"module child: required parameter 'required' of child.bicep is not passed" \
	"bad-module.bicep:11:14: module ghost: ghost.bicep does not exist"
expect bad-api.bicep 1 \
	"bad-api.bicep:2:13: resource sa: Microsoft.Storage/storageAccounts@2099-01-01 is not in check/api-versions.txt"
echo "infra/check: parse.js self-test ok (flags the broken files in infra/check/testdata)"

# ---- 2. bash -n ------------------------------------------------------------------
mapfile -t sh_files < <(find infra -name '*.sh' | sort)
for f in "${sh_files[@]}"; do
	bash -n "$f" || fail "bash -n $f"
done
echo "infra/check: bash -n ok (${#sh_files[@]} scripts)"

# ---- 3. shellcheck --------------------------------------------------------------------
if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "infra/check: installing shellcheck (apt-get)"
	{ apt-get install -y -q shellcheck || { apt-get update -q && apt-get install -y -q shellcheck; }; } >/dev/null 2>&1 || true
fi
if command -v shellcheck >/dev/null 2>&1; then
	shellcheck -x "${sh_files[@]}" || fail "shellcheck"
	echo "infra/check: shellcheck ok"
else
	echo "infra/check: shellcheck not available (and could not be installed): skipped"
fi

# ---- 4. deploy.sh against a fake az ---------------------------------------------------------
bash infra/check/deploy_test.sh || fail "deploy.sh test"

echo "infra/check: all checks passed"
