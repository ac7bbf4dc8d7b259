// xelwatch: SQL audit (.xel) ingestion and detection on Azure Functions.
//
// Deploys into one resource group (deploy.sh creates it):
//   user-assigned identity ─┬─ app storage (host, deployment package, tables, queues)
//                           ├─ audit storage (new, or existing in any resource group)
//                           │     └─ Event Grid system topic (subscription: deploy.sh)
//                           ├─ Key Vault (webhook secrets, RBAC)
//                           ├─ Application Insights + Log Analytics (Entra-only ingestion)
//                           └─ Function App (Flex Consumption by default, or Elastic Premium)
//   optional: auditing on an existing Azure SQL server -> audit storage (sql-audit.bicep)
//
// No storage keys on Flex, no secrets in app settings (Key Vault references),
// least-privilege roles for the identity (see each module's header).
// Run with infra/deploy.sh; see infra/README.md.

targetScope = 'resourceGroup'

@description('Short base name (lower-case letters, digits, hyphens); a stable per-resource-group suffix is appended.')
@minLength(3)
@maxLength(12)
param name string = 'xelwatch'

param location string = resourceGroup().location

@description('Hosting plan. FlexConsumption needs the `custom` runtime in the region (az functionapp list-flexconsumption-runtimes --location L --runtime custom); otherwise ElasticPremium.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param plan string = 'FlexConsumption'

@description('Flex Consumption: maximum instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption: memory per instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// ---- audit storage ---------------------------------------------------------

@description('Use this existing storage account for audit files instead of creating one (empty = create).')
param existingAuditStorageAccountName string = ''

@description('Resource group of the existing audit account (same subscription).')
param existingAuditStorageResourceGroup string = resourceGroup().name

@description('Region of the existing audit account (the Event Grid system topic must be in the same region). deploy.sh looks it up.')
param auditStorageLocation string = location

@description('Create the Event Grid system topic on the audit account. false when the account already has one (only one per account is allowed); deploy.sh detects this.')
param createAuditSystemTopic bool = true

@description('Name of the audit account\'s system topic (existing one when createAuditSystemTopic = false).')
param auditSystemTopicName string = ''

@description('App identity\'s blob role on the audit account: Owner (documented for blob triggers) or Reader (read-only; see modules/audit-storage.bicep).')
@allowed([
  'Owner'
  'Reader'
])
param auditBlobAccess string = 'Owner'

@description('New audit account only: days of WORM immutability with protected append writes on the audit container (0 = off).')
@minValue(0)
param auditImmutabilityDays int = 0

@description('Audit container. Azure SQL auditing always writes to sqldbauditlogs.')
param auditContainerName string = 'sqldbauditlogs'

// ---- tables, queues, tunables (defaults = the app's defaults) ---------------

param eventsTableName string = 'AuditEvents'
param cursorsTableName string = 'AuditCursors'
param detectionsTableName string = 'Detections'
param stateTableName string = 'DetectionState'

@description('Detections queue; the host moves failed messages to <name>-poison.')
@maxLength(56)
param detectionsQueueName string = 'detections'

@description('Sweep timer, NCRONTAB with seconds.')
param sweepSchedule string = '*/5 * * * * *'

@description('Close a cursor whose blob has been idle this long (Go duration).')
param idleClose string = '2h'

@description('Per audit stream, the longest it may stay without growth before AUD-016 "Audit stream went silent": PATTERN:GAP entries, first match wins, e.g. \'contoso-*:30m,*:6h\'; PATTERN is server[/database[/audit]] with * globs, GAP a Go duration (1m..720h) or off. Empty: off.')
param silenceMaxGap string = ''

@description('Period of the heartbeat message to the notification channels (Go duration, e.g. 24h), once per period across instances. Empty: off.')
param heartbeat string = ''

@minValue(1)
param sweepDays int = 2

@description('Bytes one invocation decodes before leaving the rest to the sweep.')
param maxBytesPerRun int = 268435456

@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@allowed([
  'low'
  'medium'
  'high'
  'critical'
])
param notifyMinSeverity string = 'low'

param notifyTimeout string = '10s'

// ---- detection settings (detect.Config; comma-separated lists) ---------------
// Empty = the app's default (detect.Config; docs/rules.md).

@description('Allowed backup destinations: URL prefixes, storage account names or hosts, path prefixes, device names (EXF-001/006).')
param allowedBackupDestinations string = ''
@description('Logins trusted for operational actions (backups, audit and role maintenance).')
param allowedPrincipals string = ''
@description('Trusted application names (a trailing * makes a prefix).')
param allowedApplications string = ''
@description('Trusted client addresses or CIDR prefixes.')
param allowedClientIps string = ''
@description('Maintenance windows, e.g. Sat 01:00-05:00 UTC,daily 02:00-03:00 (UTC unless a zone follows).')
param maintenanceWindows string = ''
@description('Impersonation targets PRV-005 watches.')
param privilegedPrincipals string = 'sa,dbo'
@description('Extra lower-case substrings of application/host names AUTH-006 reports, added to the built-in list.')
param attackTools string = ''
@description('Optional JSON rules file (allow-lists and per-rule settings), a path the app can read.')
param rulesFile string = ''
@description('Optional Sigma rule files and folders (comma-separated paths the app can read, e.g. deployed with the package); see docs/sigma.md.')
param sigmaRules string = ''
@description('Rule ids to disable, e.g. AUTH-004,EXE-008.')
param disabledRules string = ''
@description('Severity overrides, rule id to severity, e.g. EXF-002:medium,AUD-005:high.')
param severityOverrides string = ''
param bruteForceThreshold int = 8
param bruteForceWindow string = '10m'
param sprayThreshold int = 5
param sprayWindow string = '30m'
param successAfterFailuresWindow string = '30m'
param correlationWindow string = '60m'
param throttleWindow string = '1h'
param stateMaxEntries int = 64
@description('EVA-001: statement length (characters) from which padding is reported.')
param oversizedStatementChars int = 65536
@description('BAS-001..004: how long a principal, client network, application or backup destination counts as seen.')
param baselineWindow string = '720h'
@description('BAS-001..004: no baseline finding until this long after the first record of a server or principal.')
param baselineLearning string = '168h'
@description('BAS-002/003: client networks plus applications kept per principal, backup destinations per server.')
param baselineMaxValues int = 64
@description('BAS-004: rows above mean + k standard deviations of the principal\'s peaks.')
param baselineRowsK string = '3'
@description('BAS-004: least response_rows/affected_rows reported.')
param baselineRowsFloor int = 10000
@description('AUTH-009: failed logins of one principal from one address within the window.')
param failedLoginRepeatThreshold int = 3
param failedLoginRepeatWindow string = '1h'
@description('Error spikes per principal and address: EXE-012 syntax errors, AUTH-010 credential errors, AUTH-007 firewall refusals.')
param syntaxErrorThreshold int = 3
param credentialErrorThreshold int = 5
param firewallErrorThreshold int = 3
param errorWindow string = '1h'

@description('More app settings, merged last; empty values are dropped.')
param extraAppSettings object = {}

// ---- notifier secrets (stored in Key Vault, referenced from app settings) ---

@secure()
param webhookUrl string = ''
@secure()
param webhookSecret string = ''
@secure()
param teamsWebhookUrl string = ''
@secure()
param slackWebhookUrl string = ''

@description('Settings (e.g. XELWATCH_WEBHOOK_URL) whose Key Vault secret already exists and must stay referenced although no new value is passed. deploy.sh fills this.')
param existingSecretSettings array = []

// ---- optional: Azure SQL server auditing ------------------------------------

// ---- Azure control plane (AuditControl: AUD-008..013) ----------------------------

@description('Watch Azure Resource Manager operations (audit settings, diagnostic settings, the audit account, xelwatch itself) through an Event Grid system topic, and audit blob deletions.')
param watchControlPlane bool = true
@description('Scope of the Resource Manager system topic: this resource group, or the whole subscription.')
@allowed([
  'resourceGroup'
  'subscription'
])
param controlScope string = 'resourceGroup'
@description('Name of the Resource Manager system topic (default evgt-arm-<name>-<suffix>).')
param controlTopicName string = ''
@description('An audit blob deleted younger than this is reported (AUD-013); Azure SQL retention deletes older files.')
param deleteMinAge string = '24h'
@description('Read the auditing policy after an audit-settings change (grants Reader on sqlServerName).')
param auditStateRead bool = false

@description('Turn on auditing of an existing Azure SQL logical server into the audit account.')
param enableSqlAudit bool = false
param sqlServerName string = ''
param sqlServerResourceGroup string = resourceGroup().name
@minValue(1000)
param sqlAuditQueueDelayMs int = 1000
@description('Days SQL keeps audit files (0 = forever).')
@minValue(0)
@maxValue(3285)
param sqlAuditRetentionDays int = 90

param tags object = {
  app: 'xelwatch'
}

// ---- names ------------------------------------------------------------------

var suffix = take(uniqueString(subscription().id, resourceGroup().id, name), 8)
var compact = toLower(replace(name, '-', ''))
var appName = '${name}-${suffix}'
var appStorageName = take('st${compact}${suffix}', 24)
var createAuditAccount = empty(existingAuditStorageAccountName)
var auditStorageName = createAuditAccount ? take('au${compact}${suffix}', 24) : existingAuditStorageAccountName
var auditResourceGroup = createAuditAccount ? resourceGroup().name : existingAuditStorageResourceGroup
var auditLocation = createAuditAccount ? location : auditStorageLocation
var systemTopicName = empty(auditSystemTopicName) ? 'evgt-${auditStorageName}' : auditSystemTopicName
var armTopicName = empty(controlTopicName) ? 'evgt-arm-${name}-${suffix}' : controlTopicName
var vaultName = take('kv-${name}-${suffix}', 24)
var deploymentContainerName = 'app-package-${toLower(name)}'
var tableNames = [
  eventsTableName
  cursorsTableName
  detectionsTableName
  stateTableName
]
var queueNames = [
  detectionsQueueName
  '${detectionsQueueName}-poison'
]

// ---- identity ----------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${name}-${suffix}'
  location: location
  tags: tags
}

// ---- resources ----------------------------------------------------------------

module monitoring 'modules/monitoring.bicep' = {
  name: 'xelwatch-monitoring'
  params: {
    location: location
    workspaceName: 'log-${name}-${suffix}'
    appInsightsName: 'appi-${name}-${suffix}'
    publisherPrincipalId: identity.properties.principalId
    tags: tags
  }
}

module appStorage 'modules/app-storage.bicep' = {
  name: 'xelwatch-app-storage'
  params: {
    location: location
    accountName: appStorageName
    allowSharedKeyAccess: plan != 'FlexConsumption'
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
    queueNames: queueNames
    appPrincipalId: identity.properties.principalId
    tags: tags
  }
}

module auditStorage 'modules/audit-storage.bicep' = {
  name: 'xelwatch-audit-storage'
  scope: resourceGroup(auditResourceGroup)
  params: {
    location: auditLocation
    accountName: auditStorageName
    createAccount: createAuditAccount
    containerName: auditContainerName
    auditBlobAccess: auditBlobAccess
    immutabilityDays: auditImmutabilityDays
    appPrincipalId: identity.properties.principalId
    createSystemTopic: createAuditSystemTopic
    systemTopicName: systemTopicName
    tags: tags
  }
}

var secretNames = {
  XELWATCH_WEBHOOK_URL: 'xelwatch-webhook-url'
  XELWATCH_WEBHOOK_SECRET: 'xelwatch-webhook-secret'
  XELWATCH_TEAMS_WEBHOOK_URL: 'xelwatch-teams-webhook-url'
  XELWATCH_SLACK_WEBHOOK_URL: 'xelwatch-slack-webhook-url'
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'xelwatch-keyvault'
  params: {
    location: location
    vaultName: vaultName
    readerPrincipalId: identity.properties.principalId
    secretValues: {
      '${secretNames.XELWATCH_WEBHOOK_URL}': webhookUrl
      '${secretNames.XELWATCH_WEBHOOK_SECRET}': webhookSecret
      '${secretNames.XELWATCH_TEAMS_WEBHOOK_URL}': teamsWebhookUrl
      '${secretNames.XELWATCH_SLACK_WEBHOOK_URL}': slackWebhookUrl
    }
    tags: tags
  }
}

// A Key Vault reference to a secret that does not exist resolves to the
// reference text itself, which the notifier would take for a URL: reference a
// secret only when a value is passed now or deploy.sh saw it in the vault.
var secretUriPrefix = 'https://${vaultName}${environment().suffixes.keyvaultDns}/secrets/'
var useWebhookUrl = !empty(webhookUrl) || contains(existingSecretSettings, 'XELWATCH_WEBHOOK_URL')
var useWebhookSecret = !empty(webhookSecret) || contains(existingSecretSettings, 'XELWATCH_WEBHOOK_SECRET')
var useTeamsWebhookUrl = !empty(teamsWebhookUrl) || contains(existingSecretSettings, 'XELWATCH_TEAMS_WEBHOOK_URL')
var useSlackWebhookUrl = !empty(slackWebhookUrl) || contains(existingSecretSettings, 'XELWATCH_SLACK_WEBHOOK_URL')

// ---- app settings read by the xelwatch binary ----------------------------------
// BEGIN xelwatch-settings
// handler/internal/config/infra_test.go parses the keys of this object (one `NAME: value` entry
// per line between the BEGIN/END markers) and checks them against the env
// tags of handler/internal/config.Config: every name the config reads is set here and
// every name here is read, except the documented exceptions in that test.
// Empty values are dropped (the app's defaults apply).
var xelwatchSettings = {
  AzureWebJobsStorage__blobServiceUri: appStorage.outputs.blobEndpoint
  AzureWebJobsStorage__queueServiceUri: appStorage.outputs.queueEndpoint
  AzureWebJobsStorage__tableServiceUri: appStorage.outputs.tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  AuditStorage__blobServiceUri: auditStorage.outputs.blobEndpoint
  AuditStorage__queueServiceUri: auditStorage.outputs.queueEndpoint
  AuditStorage__credential: 'managedidentity'
  AuditStorage__clientId: identity.properties.clientId
  XELWATCH_AUDIT_CONTAINER: auditContainerName
  XELWATCH_EVENTS_TABLE: eventsTableName
  XELWATCH_CURSORS_TABLE: cursorsTableName
  XELWATCH_DETECTIONS_TABLE: detectionsTableName
  XELWATCH_STATE_TABLE: stateTableName
  XELWATCH_DETECTIONS_QUEUE: detectionsQueueName
  XELWATCH_SWEEP_SCHEDULE: sweepSchedule
  XELWATCH_IDLE_CLOSE: idleClose
  XELWATCH_SWEEP_DAYS: string(sweepDays)
  XELWATCH_MAX_BYTES_PER_RUN: string(maxBytesPerRun)
  XELWATCH_LOG_LEVEL: logLevel
  XELWATCH_SILENCE_MAX_GAP: silenceMaxGap
  XELWATCH_HEARTBEAT: heartbeat
  XELWATCH_WEBHOOK_URL: useWebhookUrl ? '@Microsoft.KeyVault(SecretUri=${secretUriPrefix}${secretNames.XELWATCH_WEBHOOK_URL}/)' : ''
  XELWATCH_WEBHOOK_SECRET: useWebhookSecret ? '@Microsoft.KeyVault(SecretUri=${secretUriPrefix}${secretNames.XELWATCH_WEBHOOK_SECRET}/)' : ''
  XELWATCH_TEAMS_WEBHOOK_URL: useTeamsWebhookUrl ? '@Microsoft.KeyVault(SecretUri=${secretUriPrefix}${secretNames.XELWATCH_TEAMS_WEBHOOK_URL}/)' : ''
  XELWATCH_SLACK_WEBHOOK_URL: useSlackWebhookUrl ? '@Microsoft.KeyVault(SecretUri=${secretUriPrefix}${secretNames.XELWATCH_SLACK_WEBHOOK_URL}/)' : ''
  XELWATCH_NOTIFY_MIN_SEVERITY: notifyMinSeverity
  XELWATCH_NOTIFY_TIMEOUT: notifyTimeout
  XELWATCH_ALLOWED_BACKUP_DESTINATIONS: allowedBackupDestinations
  XELWATCH_ALLOWED_PRINCIPALS: allowedPrincipals
  XELWATCH_ALLOWED_APPLICATIONS: allowedApplications
  XELWATCH_ALLOWED_CLIENT_IPS: allowedClientIps
  XELWATCH_MAINTENANCE_WINDOWS: maintenanceWindows
  XELWATCH_PRIVILEGED_PRINCIPALS: privilegedPrincipals
  XELWATCH_ATTACK_TOOLS: attackTools
  XELWATCH_RULES_FILE: rulesFile
  XELWATCH_SIGMA_RULES: sigmaRules
  XELWATCH_DISABLED_RULES: disabledRules
  XELWATCH_SEVERITY_OVERRIDES: severityOverrides
  XELWATCH_BRUTE_FORCE_THRESHOLD: string(bruteForceThreshold)
  XELWATCH_BRUTE_FORCE_WINDOW: bruteForceWindow
  XELWATCH_SPRAY_THRESHOLD: string(sprayThreshold)
  XELWATCH_SPRAY_WINDOW: sprayWindow
  XELWATCH_SUCCESS_AFTER_FAILURES_WINDOW: successAfterFailuresWindow
  XELWATCH_CORRELATION_WINDOW: correlationWindow
  XELWATCH_THROTTLE_WINDOW: throttleWindow
  XELWATCH_STATE_MAX_ENTRIES: string(stateMaxEntries)
  XELWATCH_OVERSIZED_STATEMENT_CHARS: string(oversizedStatementChars)
  XELWATCH_AUDIT_ACCOUNT_ID: auditStorage.outputs.id
  XELWATCH_APP_RESOURCE_ID: resourceId('Microsoft.Web/sites', appName)
  XELWATCH_WATCHED_TOPICS: watchControlPlane ? '${systemTopicName},${armTopicName}' : systemTopicName
  XELWATCH_DELETE_MIN_AGE: deleteMinAge
  XELWATCH_AUDIT_STATE_READ: string(auditStateRead)
  XELWATCH_BASELINE_WINDOW: baselineWindow
  XELWATCH_BASELINE_LEARNING: baselineLearning
  XELWATCH_BASELINE_MAX_VALUES: string(baselineMaxValues)
  XELWATCH_BASELINE_ROWS_K: baselineRowsK
  XELWATCH_BASELINE_ROWS_FLOOR: string(baselineRowsFloor)
  XELWATCH_FAILED_LOGIN_REPEAT_THRESHOLD: string(failedLoginRepeatThreshold)
  XELWATCH_FAILED_LOGIN_REPEAT_WINDOW: failedLoginRepeatWindow
  XELWATCH_SYNTAX_ERROR_THRESHOLD: string(syntaxErrorThreshold)
  XELWATCH_CREDENTIAL_ERROR_THRESHOLD: string(credentialErrorThreshold)
  XELWATCH_FIREWALL_ERROR_THRESHOLD: string(firewallErrorThreshold)
  XELWATCH_ERROR_WINDOW: errorWindow
}
// END xelwatch-settings

module functionApp 'modules/functionapp.bicep' = {
  name: 'xelwatch-functionapp'
  params: {
    location: location
    plan: plan
    planName: 'plan-${name}-${suffix}'
    appName: appName
    identityId: identity.id
    identityClientId: identity.properties.clientId
    appStorageName: appStorage.outputs.name
    deploymentContainerUrl: appStorage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    appSettings: union(xelwatchSettings, extraAppSettings)
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    tags: tags
  }
  dependsOn: [
    keyVault
  ]
}

module sqlAudit 'modules/sql-audit.bicep' = if (enableSqlAudit) {
  name: 'xelwatch-sql-audit'
  scope: resourceGroup(sqlServerResourceGroup)
  params: {
    sqlServerName: sqlServerName
    auditStorageAccountName: auditStorage.outputs.name
    auditStorageResourceGroup: auditResourceGroup
    auditBlobEndpoint: auditStorage.outputs.blobEndpoint
    queueDelayMs: sqlAuditQueueDelayMs
    retentionDays: sqlAuditRetentionDays
  }
}

module controlTopic 'modules/control-topic.bicep' = if (watchControlPlane) {
  name: 'xelwatch-control-topic'
  params: {
    topicName: armTopicName
    scope: controlScope
    tags: tags
  }
}

module sqlReader 'modules/sql-reader-role.bicep' = if (auditStateRead && !empty(sqlServerName)) {
  name: 'xelwatch-sql-reader'
  scope: resourceGroup(sqlServerResourceGroup)
  params: {
    sqlServerName: sqlServerName
    principalId: identity.properties.principalId
  }
}

output appName string = functionApp.outputs.name
output appHostName string = functionApp.outputs.defaultHostName
output plan string = plan
output appStorageName string = appStorage.outputs.name
output auditStorageName string = auditStorage.outputs.name
output auditStorageResourceGroup string = auditResourceGroup
output auditStorageId string = auditStorage.outputs.id
output auditContainerName string = auditContainerName
output auditSystemTopicName string = auditStorage.outputs.systemTopicName
output keyVaultName string = keyVault.outputs.name
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output controlTopicName string = watchControlPlane ? armTopicName : ''
output appInsightsName string = monitoring.outputs.appInsightsName
