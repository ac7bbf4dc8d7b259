#!/usr/bin/env bash
# infra/deploy.sh — deploy xelwatch to Azure with one command. Safe to re-run.
#
#   infra/deploy.sh -g RG -l LOCATION [options]
#
# Steps: check az and login → create/reuse the resource group → check that the
# region offers custom handlers on Flex Consumption → Bicep deployment (or
# what-if and stop) → build the linux/amd64 package (.ci/package.sh) → zip
# deploy → wait for the blobs_extension system key → Event Grid subscription
# from the audit account to the blob trigger → smoke check → next steps.
# See infra/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOYMENT=xelwatch
FUNCTIONS=(AuditBlob AuditSweep Notifier AuditControl)
MIN_AZ=2.60.0

usage() {
	cat <<'EOF'
Usage: infra/deploy.sh -g RESOURCE_GROUP -l LOCATION [options]

  -g, --resource-group RG     resource group (created if missing)
  -l, --location LOCATION     Azure region, e.g. westeurope
  -n, --name NAME             base name, 3-12 chars (default xelwatch)
      --plan PLAN             FlexConsumption (default) or ElasticPremium
      --audit-account NAME    use this existing storage account for audit files
      --audit-account-rg RG   its resource group (default: RG)
      --sql-server NAME       also turn on auditing of this Azure SQL server
      --sql-server-rg RG      its resource group (default: RG)
      --webhook-url URL       generic JSON webhook (stored in Key Vault)
      --webhook-secret S      HMAC-SHA256 signing secret (stored in Key Vault)
      --teams-webhook-url URL Teams channel webhook (stored in Key Vault)
      --slack-webhook-url URL Slack incoming webhook (stored in Key Vault)
      --param NAME=VALUE      any other main.bicep parameter (repeatable)
      --package ZIP           deploy this package instead of building one
      --what-if               show what the deployment would change, then stop
      --skip-code             infrastructure only (no package, no subscription)
  -h, --help                  this help

Secrets may also come from the environment (XELWATCH_WEBHOOK_URL,
XELWATCH_WEBHOOK_SECRET, XELWATCH_TEAMS_WEBHOOK_URL, XELWATCH_SLACK_WEBHOOK_URL)
so that they stay out of the shell history.
EOF
}

die() {
	printf 'deploy: error: %s\n' "$*" >&2
	exit 1
}
info() { printf '==> %s\n' "$*"; }
warn() { printf 'deploy: warning: %s\n' "$*" >&2; }

need_arg() {
	if [ "$#" -lt 2 ] || [ -z "$2" ]; then
		die "$1 needs a value (see --help)"
	fi
}

RG="" LOCATION="" NAME="xelwatch" PLAN="FlexConsumption"
AUDIT_ACCOUNT="" AUDIT_RG="" SQL_SERVER="" SQL_RG=""
WEBHOOK_URL="${XELWATCH_WEBHOOK_URL:-}" WEBHOOK_SECRET="${XELWATCH_WEBHOOK_SECRET:-}"
TEAMS_URL="${XELWATCH_TEAMS_WEBHOOK_URL:-}" SLACK_URL="${XELWATCH_SLACK_WEBHOOK_URL:-}"
PACKAGE="" WHAT_IF=0 SKIP_CODE=0
EXTRA_PARAMS=()

while [ "$#" -gt 0 ]; do
	case "$1" in
	-g | --resource-group) need_arg "$@"; RG=$2; shift 2 ;;
	-l | --location) need_arg "$@"; LOCATION=$2; shift 2 ;;
	-n | --name) need_arg "$@"; NAME=$2; shift 2 ;;
	--plan) need_arg "$@"; PLAN=$2; shift 2 ;;
	--audit-account) need_arg "$@"; AUDIT_ACCOUNT=$2; shift 2 ;;
	--audit-account-rg) need_arg "$@"; AUDIT_RG=$2; shift 2 ;;
	--sql-server) need_arg "$@"; SQL_SERVER=$2; shift 2 ;;
	--sql-server-rg) need_arg "$@"; SQL_RG=$2; shift 2 ;;
	--webhook-url) need_arg "$@"; WEBHOOK_URL=$2; shift 2 ;;
	--webhook-secret) need_arg "$@"; WEBHOOK_SECRET=$2; shift 2 ;;
	--teams-webhook-url) need_arg "$@"; TEAMS_URL=$2; shift 2 ;;
	--slack-webhook-url) need_arg "$@"; SLACK_URL=$2; shift 2 ;;
	--param) need_arg "$@"; EXTRA_PARAMS+=("$2"); shift 2 ;;
	--package) need_arg "$@"; PACKAGE=$2; shift 2 ;;
	--what-if) WHAT_IF=1; shift ;;
	--skip-code) SKIP_CODE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

[ -n "$RG" ] || die "missing -g RESOURCE_GROUP (see --help)"
[ -n "$LOCATION" ] || die "missing -l LOCATION (see --help)"
case "$PLAN" in
FlexConsumption | ElasticPremium) ;;
*) die "--plan must be FlexConsumption or ElasticPremium, not '$PLAN'" ;;
esac
# Key Vault and storage naming rules: start with a letter, no trailing or
# doubled '-'.
{ [[ "$NAME" =~ ^[a-z][a-z0-9]*(-[a-z0-9]+)*$ ]] && [ "${#NAME}" -ge 3 ] && [ "${#NAME}" -le 12 ]; } ||
	die "--name must be 3-12 lower-case letters and digits, starting with a letter, single '-' between them"
for p in "${EXTRA_PARAMS[@]}"; do
	[[ "$p" == *=* ]] || die "--param wants NAME=VALUE, got '$p'"
done
AUDIT_RG=${AUDIT_RG:-$RG}
SQL_RG=${SQL_RG:-$RG}

# ---- az present, recent, logged in ---------------------------------------------

command -v az >/dev/null 2>&1 ||
	die "the Azure CLI (az) is not installed. Install az >= $MIN_AZ (https://learn.microsoft.com/cli/azure/install-azure-cli), then run 'az login'."

version_ge() { # version_ge A B: A >= B (dotted numeric)
	[ "$(printf '%s\n%s\n' "$2" "$1" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)" = "$2" ]
}
AZ_VERSION=$(az version --query '"azure-cli"' -o tsv 2>/dev/null || true)
if [ -z "$AZ_VERSION" ]; then
	warn "could not read the az version; Flex Consumption needs az >= $MIN_AZ"
elif ! version_ge "$AZ_VERSION" "$MIN_AZ"; then
	die "az $AZ_VERSION is too old: Flex Consumption commands need az >= $MIN_AZ ('az upgrade')"
fi

az account show --query id -o tsv >/dev/null 2>&1 ||
	die "az is not logged in (az account show failed). Run 'az login' (and 'az account set -s SUBSCRIPTION')."
SUBSCRIPTION=$(az account show --query id -o tsv)
info "subscription $SUBSCRIPTION, resource group $RG, region $LOCATION, plan $PLAN"

# ---- temporary files (parameters carry secrets) ----------------------------------

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chmod 700 "$TMP"

# ---- resource group ---------------------------------------------------------------

if [ "$(az group exists -n "$RG" -o tsv)" = "true" ]; then
	info "using resource group $RG"
elif [ "$WHAT_IF" = 1 ]; then
	die "resource group $RG does not exist; what-if needs it (run without --what-if, or create it: az group create -n $RG -l $LOCATION)"
else
	info "creating resource group $RG in $LOCATION"
	az group create -n "$RG" -l "$LOCATION" -o none
fi

# ---- resource providers (registration is per subscription, once) ----------------------

if [ "$WHAT_IF" = 0 ]; then
	for ns in Microsoft.Web Microsoft.Storage Microsoft.EventGrid Microsoft.KeyVault \
		Microsoft.Insights Microsoft.OperationalInsights Microsoft.ManagedIdentity; do
		state=$(az provider show -n "$ns" --query registrationState -o tsv 2>/dev/null || true)
		if [ "$state" != Registered ]; then
			info "registering resource provider $ns"
			az provider register -n "$ns" --wait -o none
		fi
	done
fi

# ---- custom handlers on Flex in this region? ------------------------------------------

if [ "$PLAN" = FlexConsumption ]; then
	runtimes=$(az functionapp list-flexconsumption-runtimes --location "$LOCATION" --runtime custom -o tsv 2>"$TMP/runtimes.err" || true)
	if grep -qiE 'not recognized|misspelled|is not in the' "$TMP/runtimes.err"; then
		die "this az ($AZ_VERSION) has no 'az functionapp list-flexconsumption-runtimes': run 'az upgrade' (or use --plan ElasticPremium)"
	fi
	if [ -z "$runtimes" ]; then
		sed 's/^/  az: /' "$TMP/runtimes.err" >&2 || true
		die "region $LOCATION does not offer the 'custom' runtime on Flex Consumption (az functionapp list-flexconsumption-runtimes --location $LOCATION --runtime custom is empty). Re-run with --plan ElasticPremium, or pick another region."
	fi
	info "Flex Consumption offers custom handlers in $LOCATION"
fi

# ---- existing audit account: region, system topic ----------------------------------------

TOPIC_RG=$AUDIT_RG
PARAMS_JSON=""
add_param() { # add_param NAME JSON_VALUE
	PARAMS_JSON+="${PARAMS_JSON:+,}\"$1\":{\"value\":$2}"
}
json_string() { # JSON string literal; refuses control characters
	local s=$1
	case "$s" in *[[:cntrl:]]*) die "a parameter value contains control characters" ;; esac
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

add_param name "$(json_string "$NAME")"
add_param location "$(json_string "$LOCATION")"
add_param plan "$(json_string "$PLAN")"

if [ -n "$AUDIT_ACCOUNT" ]; then
	audit_id=$(az storage account show -n "$AUDIT_ACCOUNT" -g "$AUDIT_RG" --query id -o tsv 2>/dev/null) ||
		die "storage account $AUDIT_ACCOUNT not found in resource group $AUDIT_RG (use --audit-account-rg)"
	audit_location=$(az storage account show -n "$AUDIT_ACCOUNT" -g "$AUDIT_RG" --query location -o tsv)
	add_param existingAuditStorageAccountName "$(json_string "$AUDIT_ACCOUNT")"
	add_param existingAuditStorageResourceGroup "$(json_string "$AUDIT_RG")"
	add_param auditStorageLocation "$(json_string "$audit_location")"
	# Only one system topic per storage account: reuse one that exists.
	existing_topic=$(az eventgrid system-topic list --query "[?source=='$audit_id'] | [0].[name, resourceGroup]" -o tsv 2>/dev/null || true)
	if [ -n "$existing_topic" ]; then
		read -r topic_name topic_rg <<<"$existing_topic"
		info "reusing Event Grid system topic $topic_name ($topic_rg) of $AUDIT_ACCOUNT"
		add_param createAuditSystemTopic false
		add_param auditSystemTopicName "$(json_string "$topic_name")"
		TOPIC_RG=$topic_rg
	fi
fi

# ---- Azure SQL server: needs a system-assigned identity --------------------------------

if [ -n "$SQL_SERVER" ]; then
	identity_type=$(az sql server show -n "$SQL_SERVER" -g "$SQL_RG" --query "identity.type" -o tsv 2>/dev/null) ||
		die "Azure SQL server $SQL_SERVER not found in resource group $SQL_RG (use --sql-server-rg)"
	case "$identity_type" in
	*SystemAssigned*) ;;
	*)
		if [ "$WHAT_IF" = 1 ]; then
			warn "$SQL_SERVER has no system-assigned identity; a real run adds one (az sql server update --assign-identity)"
		else
			info "giving $SQL_SERVER a system-assigned identity (auditing authenticates with it)"
			az sql server update -n "$SQL_SERVER" -g "$SQL_RG" --assign-identity -o none
		fi
		;;
	esac
	add_param enableSqlAudit true
	add_param sqlServerName "$(json_string "$SQL_SERVER")"
	add_param sqlServerResourceGroup "$(json_string "$SQL_RG")"
fi

# ---- secrets: new values, and the ones already in Key Vault ----------------------------

add_param webhookUrl "$(json_string "$WEBHOOK_URL")"
add_param webhookSecret "$(json_string "$WEBHOOK_SECRET")"
add_param teamsWebhookUrl "$(json_string "$TEAMS_URL")"
add_param slackWebhookUrl "$(json_string "$SLACK_URL")"

existing_secrets=()
previous_vault=$(az deployment group show -g "$RG" -n "$DEPLOYMENT" --query properties.outputs.keyVaultName.value -o tsv 2>/dev/null || true)
if [ -n "$previous_vault" ]; then
	vault_id=$(az keyvault show -n "$previous_vault" -g "$RG" --query id -o tsv 2>/dev/null || true)
	for pair in XELWATCH_WEBHOOK_URL:xelwatch-webhook-url XELWATCH_WEBHOOK_SECRET:xelwatch-webhook-secret \
		XELWATCH_TEAMS_WEBHOOK_URL:xelwatch-teams-webhook-url XELWATCH_SLACK_WEBHOOK_URL:xelwatch-slack-webhook-url; do
		# Control-plane read (metadata only): the deployer needs no data-plane role.
		if [ -n "$vault_id" ] && az resource show --ids "$vault_id/secrets/${pair#*:}" --query id -o tsv >/dev/null 2>&1; then
			existing_secrets+=("$(json_string "${pair%%:*}")")
		fi
	done
fi
existing_json=$(
	IFS=,
	printf '[%s]' "${existing_secrets[*]:-}"
)
add_param existingSecretSettings "$existing_json"

PARAMS_FILE="$TMP/parameters.json"
# shellcheck disable=SC2016 # "$schema" is a literal JSON key
printf '{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#","contentVersion":"1.0.0.0","parameters":{%s}}\n' "$PARAMS_JSON" >"$PARAMS_FILE"
chmod 600 "$PARAMS_FILE"
deploy_args=(-g "$RG" -n "$DEPLOYMENT" --template-file "$ROOT/infra/main.bicep" --parameters "@$PARAMS_FILE")
for p in "${EXTRA_PARAMS[@]}"; do
	deploy_args+=(--parameters "$p")
done

# ---- infrastructure ------------------------------------------------------------------------

if [ "$WHAT_IF" = 1 ]; then
	info "what-if (nothing is changed)"
	az deployment group what-if "${deploy_args[@]}"
	exit 0
fi

info "deploying infrastructure (az deployment group create, a few minutes)"
az deployment group create "${deploy_args[@]}" -o none

output() { az deployment group show -g "$RG" -n "$DEPLOYMENT" --query "properties.outputs.$1.value" -o tsv; }
APP=$(output appName)
APP_HOST=$(output appHostName)
AUDIT_NAME=$(output auditStorageName)
AUDIT_ID=$(output auditStorageId)
AUDIT_CONTAINER=$(output auditContainerName)
TOPIC=$(output auditSystemTopicName)
ARM_TOPIC=$(output controlTopicName)
VAULT=$(output keyVaultName)
info "function app $APP, audit account $AUDIT_NAME, key vault $VAULT"

if [ "$SKIP_CODE" = 1 ]; then
	info "--skip-code: infrastructure only. Re-run without it to deploy the code and the Event Grid subscription."
	exit 0
fi

# ---- code ------------------------------------------------------------------------------------

if [ -z "$PACKAGE" ]; then
	[ -x "$ROOT/.ci/package.sh" ] || die ".ci/package.sh is missing or not executable; build the package yourself and pass --package ZIP"
	info "building the linux/amd64 package (.ci/package.sh)"
	"$ROOT/.ci/package.sh"
	PACKAGE="$ROOT/dist/xelwatch-app.zip"
fi
[ -f "$PACKAGE" ] || die "package $PACKAGE not found"

info "deploying $PACKAGE to $APP"
az functionapp deployment source config-zip -g "$RG" -n "$APP" --src "$PACKAGE" -o none

# ---- blobs_extension key (exists once the host has started with the blob trigger) ------------

info "waiting for the blobs_extension system key"
KEY=""
for _ in $(seq 1 60); do
	KEY=$(az functionapp keys list -g "$RG" -n "$APP" --query "systemKeys.blobs_extension" -o tsv 2>/dev/null || true)
	[ -n "$KEY" ] && break
	sleep 10
done
[ -n "$KEY" ] || die "no blobs_extension key after 10 minutes: is the AuditBlob function (blob trigger, source EventGrid) in the package? Check 'az functionapp function list -g $RG -n $APP' and the app's logs, then re-run."

# ---- Event Grid subscription: audit container, .xel / .sqlaudit, BlobCreated ------------------

ENDPOINT="https://$APP_HOST/runtime/webhooks/blobs?functionName=Host.Functions.AuditBlob&code=$KEY"
SUBSCRIPTION_NAME="xelwatch-${APP}-audit-blobs"
SUBSCRIPTION_NAME=${SUBSCRIPTION_NAME:0:64}
info "Event Grid subscription $SUBSCRIPTION_NAME on $TOPIC"
# create = create-or-update (PUT): re-running refreshes the endpoint and key.
# Azure SQL writes append blobs: BlobCreated fires once, when a file is
# created (AppendBlock raises no event); the app's sweep follows the appends.
az eventgrid system-topic event-subscription create \
	--name "$SUBSCRIPTION_NAME" \
	--resource-group "$TOPIC_RG" \
	--system-topic-name "$TOPIC" \
	--endpoint-type webhook \
	--endpoint "$ENDPOINT" \
	--included-event-types Microsoft.Storage.BlobCreated \
	--subject-begins-with "/blobServices/default/containers/$AUDIT_CONTAINER/" \
	--advanced-filter subject StringEndsWith .xel .sqlaudit \
	-o none

# ---- AuditControl: Resource Manager operations and audit blob deletions (AUD-008..013) ---------
# The Event Grid extension's webhook; its eventgrid_extension system key
# exists once the host has indexed AuditControl (eventGridTrigger).

# Operations AuditControl watches: detect.OperationNames (a test in
# handler/internal/config keeps this list equal to it). StringIn takes at
# most 25 values.
CONTROL_OPERATIONS=(
	Microsoft.Sql/servers/auditingSettings/write
	Microsoft.Sql/servers/extendedAuditingSettings/write
	Microsoft.Sql/servers/devOpsAuditingSettings/write
	Microsoft.Sql/servers/databases/auditingSettings/write
	Microsoft.Sql/servers/databases/extendedAuditingSettings/write
	Microsoft.Insights/diagnosticSettings/write
	Microsoft.Insights/diagnosticSettings/delete
	Microsoft.Storage/storageAccounts/write
	Microsoft.Storage/storageAccounts/delete
	Microsoft.Storage/storageAccounts/blobServices/containers/delete
	Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/delete
	Microsoft.Storage/storageAccounts/managementPolicies/write
	Microsoft.Storage/storageAccounts/managementPolicies/delete
	Microsoft.Storage/storageAccounts/listKeys/action
	Microsoft.EventGrid/systemTopics/eventSubscriptions/write
	Microsoft.EventGrid/systemTopics/eventSubscriptions/delete
	Microsoft.EventGrid/systemTopics/delete
	Microsoft.EventGrid/eventSubscriptions/write
	Microsoft.EventGrid/eventSubscriptions/delete
	Microsoft.Web/sites/stop/action
	Microsoft.Web/sites/delete
	Microsoft.Web/sites/config/write
	Microsoft.Sql/servers/databases/export/action
)

info "waiting for the eventgrid_extension system key"
EG_KEY=""
for _ in $(seq 1 60); do
	EG_KEY=$(az functionapp keys list -g "$RG" -n "$APP" --query "systemKeys.eventgrid_extension" -o tsv 2>/dev/null || true)
	[ -n "$EG_KEY" ] && break
	sleep 10
done
if [ -z "$EG_KEY" ]; then
	warn "no eventgrid_extension key after 10 minutes: AuditControl receives no events (is it in the package?); re-run to retry"
else
	CONTROL_ENDPOINT="https://$APP_HOST/runtime/webhooks/EventGrid?functionName=AuditControl&code=$EG_KEY"
	DELETE_SUB="xelwatch-${APP}-audit-deletes"
	info "Event Grid subscription ${DELETE_SUB:0:64} on $TOPIC (BlobDeleted)"
	az eventgrid system-topic event-subscription create \
		--name "${DELETE_SUB:0:64}" \
		--resource-group "$TOPIC_RG" \
		--system-topic-name "$TOPIC" \
		--endpoint-type webhook \
		--endpoint "$CONTROL_ENDPOINT" \
		--included-event-types Microsoft.Storage.BlobDeleted \
		--subject-begins-with "/blobServices/default/containers/$AUDIT_CONTAINER/" \
		-o none
	if [ -n "$ARM_TOPIC" ]; then
		ARM_SUB="xelwatch-${APP}-control-plane"
		info "Event Grid subscription ${ARM_SUB:0:64} on $ARM_TOPIC (Resource Manager operations)"
		az eventgrid system-topic event-subscription create \
			--name "${ARM_SUB:0:64}" \
			--resource-group "$RG" \
			--system-topic-name "$ARM_TOPIC" \
			--endpoint-type webhook \
			--endpoint "$CONTROL_ENDPOINT" \
			--included-event-types \
			Microsoft.Resources.ResourceWriteSuccess Microsoft.Resources.ResourceWriteFailure \
			Microsoft.Resources.ResourceDeleteSuccess Microsoft.Resources.ResourceDeleteFailure \
			Microsoft.Resources.ResourceActionSuccess Microsoft.Resources.ResourceActionFailure \
			--advanced-filter data.operationName StringIn "${CONTROL_OPERATIONS[@]}" \
			-o none
	fi
fi

# ---- smoke check --------------------------------------------------------------------------------

info "smoke check"
functions=$(az functionapp function list -g "$RG" -n "$APP" --query "[].name" -o tsv 2>/dev/null || true)
missing=()
for f in "${FUNCTIONS[@]}"; do
	grep -qE "(^|/)$f\$" <<<"$functions" || missing+=("$f")
done
if [ "${#missing[@]}" -gt 0 ]; then
	warn "functions not (yet) listed: ${missing[*]} — the host may still be starting; check again with: az functionapp function list -g $RG -n $APP -o table"
else
	info "functions: ${FUNCTIONS[*]}"
fi
if command -v curl >/dev/null 2>&1; then
	master=$(az functionapp keys list -g "$RG" -n "$APP" --query masterKey -o tsv 2>/dev/null || true)
	if [ -n "$master" ]; then
		printf 'x-functions-key: %s\n' "$master" >"$TMP/key.header"
		chmod 600 "$TMP/key.header"
		if status=$(curl -fsS --max-time 30 -H "@$TMP/key.header" "https://$APP_HOST/admin/host/status"); then
			info "host status: $status"
		else
			warn "host status endpoint did not answer yet"
		fi
	fi
fi

cat <<EOF

xelwatch is deployed.
  function app      $APP (https://$APP_HOST)
  audit account     $AUDIT_NAME, container $AUDIT_CONTAINER
  key vault         $VAULT

Next:
  * Azure SQL Database: re-run with --sql-server NAME [--sql-server-rg RG] (server-level
    auditing with managed identity into $AUDIT_NAME), or see infra/README.md.
  * Managed Instance / SQL Server: run infra/sql/managed-instance.sql or infra/sql/sql-server.sql
    with the storage URL https://$AUDIT_NAME.blob.core.windows.net/$AUDIT_CONTAINER
  * Alerts: re-run with --webhook-url / --teams-webhook-url / --slack-webhook-url.
  * Logs: Application Insights in $RG (traces and exceptions of $APP).
  * Audit account resource id (for role assignments of other writers): $AUDIT_ID
EOF
