#!/usr/bin/env bash
# Tests infra/deploy.sh against a fake `az` (and `curl`) on PATH that logs its
# arguments and answers from canned values: error messages without az or
# without a login, the Flex runtime check, --what-if, and a full run (Event
# Grid filter and endpoint, secrets kept off the command line, re-run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY="$ROOT/infra/deploy.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
failures=0

cat >"$WORK/bin/az" <<'FAKE'
#!/usr/bin/env bash
# Fake az: one line per call in $FAKE_LOG; answers chosen by FAKE_* variables.
printf '%s\n' "$*" >>"$FAKE_LOG"
args="$*"
case "$args" in
"version "*) echo "${FAKE_AZ_VERSION:-2.70.0}" ;;
"account show"*) [ "${FAKE_LOGGED_IN:-1}" = 1 ] || { echo "Please run 'az login' to setup account." >&2; exit 1; }; echo 00000000-0000-0000-0000-000000000001 ;;
"provider show"*) [ "$4" = Microsoft.EventGrid ] && [ "${FAKE_EG_REGISTERED:-1}" = 0 ] && echo NotRegistered || echo Registered ;;
"provider register"*) ;;
"group exists"*) echo "${FAKE_RG_EXISTS:-false}" ;;
"group create"*) ;;
"functionapp list-flexconsumption-runtimes"*)
	case "${FAKE_FLEX_CUSTOM:-1}" in
	1) printf 'custom\t1.0\n' ;;
	missing) echo "'list-flexconsumption-runtimes' is misspelled or not recognized by the system." >&2; exit 2 ;;
	esac ;;
"deployment group show"*"keyVaultName"*)
	# Before this run's deployment: only when a previous one is simulated.
	if [ "${FAKE_PREVIOUS:-0}" = 1 ] || [ -f "$FAKE_PARAMS" ]; then echo kv-xelwatch-abc; else exit 3; fi ;;
"keyvault show"*) echo /subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-xelwatch-abc ;;
"resource show --ids "*"/secrets/xelwatch-webhook-url"*) echo id ;;
"resource show"*) exit 3 ;;
"deployment group create"* | "deployment group what-if"*)
	for a in "$@"; do case "$a" in @*) cp "${a#@}" "$FAKE_PARAMS" ;; esac; done ;;
"deployment group show"*"appName"*) echo xelwatch-abc ;;
"deployment group show"*"appHostName"*) echo xelwatch-abc.azurewebsites.net ;;
"deployment group show"*"auditStorageName"*) echo auxelwatchabc ;;
"deployment group show"*"auditStorageId"*) echo /subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/auxelwatchabc ;;
"deployment group show"*"auditContainerName"*) echo sqldbauditlogs ;;
"deployment group show"*"auditSystemTopicName"*) echo evgt-auxelwatchabc ;;
"deployment group show"*"controlTopicName"*) echo evgt-arm-xelwatch-abc ;;
"functionapp deployment source config-zip"*) ;;
"functionapp keys list"*"blobs_extension"*) echo BLOBKEY ;;
"functionapp keys list"*"eventgrid_extension"*) echo EGKEY ;;
"functionapp keys list"*"masterKey"*) echo MASTERKEY ;;
"eventgrid system-topic event-subscription create"*) ;;
"functionapp function list"*) printf 'xelwatch-abc/AuditBlob\nxelwatch-abc/AuditSweep\nxelwatch-abc/Notifier\nxelwatch-abc/AuditControl\n' ;;
*) echo "fake az: unexpected call: $args" >&2; exit 9 ;;
esac
FAKE
cat >"$WORK/bin/curl" <<'FAKE'
#!/usr/bin/env bash
printf 'curl %s\n' "$*" >>"$FAKE_LOG"
echo '{"state":"Running"}'
FAKE
chmod +x "$WORK/bin/az" "$WORK/bin/curl"
: >"$WORK/app.zip"

# run NAME WANT_RC [deploy.sh args...]: runs deploy.sh with the fake az first on PATH.
run() {
	local name=$1 want=$2 rc
	shift 2
	: >"$WORK/log"
	rm -f "$WORK/params.json"
	set +e
	FAKE_LOG="$WORK/log" FAKE_PARAMS="$WORK/params.json" PATH="$WORK/bin:$PATH" \
		"$DEPLOY" "$@" >"$WORK/out" 2>&1
	rc=$?
	set -e
	CASE=$name
	if [ "$rc" != "$want" ]; then
		printf 'deploy_test: %s: exit %s, want %s\n' "$name" "$rc" "$want" >&2
		sed 's/^/  | /' "$WORK/out" >&2
		failures=$((failures + 1))
	fi
}
has() { # has FILE TEXT: fixed-string match
	grep -qF -- "$2" "$1" || {
		printf 'deploy_test: %s: %s lacks %q\n' "$CASE" "$(basename "$1")" "$2" >&2
		failures=$((failures + 1))
	}
}
lacks() {
	if grep -qF -- "$2" "$1"; then
		printf 'deploy_test: %s: %s must not contain %q\n' "$CASE" "$(basename "$1")" "$2" >&2
		failures=$((failures + 1))
	fi
}

# No az at all: a PATH with only the basics deploy.sh needs before the check.
mkdir -p "$WORK/noaz"
for t in bash dirname env; do ln -sf "$(command -v "$t")" "$WORK/noaz/$t"; done
set +e
PATH="$WORK/noaz" "$DEPLOY" -g rg -l westeurope >"$WORK/out" 2>&1
rc=$?
set -e
CASE=no-az
[ "$rc" = 1 ] || { echo "deploy_test: no-az: exit $rc, want 1" >&2; failures=$((failures + 1)); }
has "$WORK/out" "Azure CLI (az) is not installed"

run usage 1 -l westeurope
has "$WORK/out" "missing -g RESOURCE_GROUP"

FAKE_LOGGED_IN=0 run not-logged-in 1 -g rg -l westeurope
export -n FAKE_LOGGED_IN 2>/dev/null || true
has "$WORK/out" "az is not logged in"

FAKE_AZ_VERSION=2.45.0 run old-az 1 -g rg -l westeurope
has "$WORK/out" "too old"

FAKE_FLEX_CUSTOM=0 run no-flex-custom 1 -g rg -l westeurope
has "$WORK/out" "--plan ElasticPremium"
lacks "$WORK/log" "deployment group create"

FAKE_FLEX_CUSTOM=missing run az-without-flex 1 -g rg -l westeurope
has "$WORK/out" "az upgrade"

FAKE_RG_EXISTS=true run what-if 0 -g rg -l westeurope --what-if
has "$WORK/log" "deployment group what-if"
lacks "$WORK/log" "deployment group create"
lacks "$WORK/log" "config-zip"

FAKE_FLEX_CUSTOM=0 FAKE_RG_EXISTS=true run premium-what-if 0 -g rg -l westeurope --plan ElasticPremium --what-if
lacks "$WORK/log" "list-flexconsumption-runtimes"
has "$WORK/params.json" '"plan":{"value":"ElasticPremium"}'

run full 0 -g rg -l westeurope --package "$WORK/app.zip" --webhook-url 'https://hooks.example/T0K3N"x' --param logLevel=debug
has "$WORK/log" "group create -n rg -l westeurope"
has "$WORK/log" "deployment group create -g rg -n xelwatch --template-file $ROOT/infra/main.bicep"
has "$WORK/log" "--parameters logLevel=debug"
has "$WORK/log" "functionapp deployment source config-zip -g rg -n xelwatch-abc --src $WORK/app.zip"
has "$WORK/log" "--endpoint https://xelwatch-abc.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.AuditBlob&code=BLOBKEY"
has "$WORK/log" "--subject-begins-with /blobServices/default/containers/sqldbauditlogs/"
has "$WORK/log" "--advanced-filter subject StringEndsWith .xel .sqlaudit"
has "$WORK/log" "--included-event-types Microsoft.Storage.BlobCreated"
has "$WORK/log" "--system-topic-name evgt-auxelwatchabc"
# AuditControl: BlobDeleted on the audit topic, Resource Manager operations on the control topic.
has "$WORK/log" "--endpoint https://xelwatch-abc.azurewebsites.net/runtime/webhooks/EventGrid?functionName=AuditControl&code=EGKEY"
has "$WORK/log" "--included-event-types Microsoft.Storage.BlobDeleted"
has "$WORK/log" "--system-topic-name evgt-arm-xelwatch-abc"
has "$WORK/log" "--advanced-filter data.operationName StringIn Microsoft.Sql/servers/auditingSettings/write"
has "$WORK/log" "Microsoft.Resources.ResourceWriteSuccess Microsoft.Resources.ResourceWriteFailure"
has "$WORK/params.json" '"webhookUrl":{"value":"https://hooks.example/T0K3N\"x"}'
has "$WORK/params.json" '"existingSecretSettings":{"value":[]}'
lacks "$WORK/log" "T0K3N"
lacks "$WORK/log" "MASTERKEY"
has "$WORK/out" "functions: AuditBlob AuditSweep Notifier AuditControl"
lacks "$WORK/log" "provider register"

FAKE_EG_REGISTERED=0 run provider 0 -g rg -l westeurope --package "$WORK/app.zip"
has "$WORK/log" "provider register -n Microsoft.EventGrid --wait"
lacks "$WORK/log" "provider register -n Microsoft.Web"

run bad-name 1 -g rg -l westeurope -n abc-
has "$WORK/out" "--name must be"

# Re-run: group reused, the stored webhook secret stays referenced.
FAKE_RG_EXISTS=true FAKE_PREVIOUS=1 run rerun 0 -g rg -l westeurope --package "$WORK/app.zip"
lacks "$WORK/log" "group create -n"
has "$WORK/params.json" '"existingSecretSettings":{"value":["XELWATCH_WEBHOOK_URL"]}'
has "$WORK/params.json" '"webhookUrl":{"value":""}'

if [ "$failures" -gt 0 ]; then
	echo "deploy_test: $failures failure(s)" >&2
	exit 1
fi
echo "infra/check: deploy.sh fake-az tests ok"
