// Optional: turn on server-level auditing of an EXISTING Azure SQL logical
// server (all its databases) into the xelwatch audit account, authenticated
// with the server's system-assigned managed identity (no storage key):
// storageEndpoint set, storageAccountAccessKey omitted, isManagedIdentityInUse.
// Prerequisite (deploy.sh does it: `az sql server update --assign-identity`):
// the server has a system-assigned identity. This module grants that identity
// Storage Blob Data Contributor on the audit account before enabling auditing.
//
// Action groups: what the rule catalog (docs/rules.md, "Action groups"
// column) needs AND Azure SQL Database accepts (group availability from
// the SQL audit action-group matrix, "Azure SQL DB" column):
//   BATCH_COMPLETED_GROUP                      statements (Azure default; EXE-*, DES-*, PRV-003 text)
//   SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP   AUTH-003/005 (Azure default)
//   FAILED_DATABASE_AUTHENTICATION_GROUP       AUTH-001/002/004 (Azure default)
//   BACKUP_RESTORE_GROUP                       EXF-001..007 (Azure SQL DB has no user BACKUP, kept for parity/restores)
//   DATABASE_ROLE_MEMBER_CHANGE_GROUP          PRV-002, PRV-008
//   DATABASE_PERMISSION_CHANGE_GROUP           PRV-003
//   DATABASE_PRINCIPAL_CHANGE_GROUP            PRV-004 (contained users)
//   DATABASE_PRINCIPAL_IMPERSONATION_GROUP     PRV-005
//   DATABASE_OBJECT_CHANGE_GROUP               EXF-005 (database scoped credentials), EXF-008 external data sources
//   SCHEMA_OBJECT_CHANGE_GROUP                 DES-001 (DROP/TRUNCATE TABLE)
//   DATABASE_OBJECT_OWNERSHIP_CHANGE_GROUP     PRV-007
//   DATABASE_OPERATION_GROUP                   database-level operations (checkpoint, subscriptions, ...)
//   USER_CHANGE_PASSWORD_GROUP                 PRV-004
// NOT included, on purpose:
//   AUDIT_CHANGE_GROUP: Azure SQL Database rejects it (InvalidBlobAuditActionsAndGroups;
//     Azure/azure-powershell#4974). Audit tampering on Azure SQL DB is a control-plane
//     event (Microsoft.Sql/servers/auditingSettings/write, AUD-009), seen in the
//     Activity log, not in .xel files.
//   Server-level groups (SUCCESSFUL/FAILED_LOGIN_GROUP, SERVER_*): not available on
//     Azure SQL Database (they are for Managed Instance / SQL Server: infra/sql/*.sql).
//   SCHEMA_OBJECT_ACCESS_GROUP: every SELECT/INSERT/... — far too noisy and costly;
//     BATCH_COMPLETED_GROUP already carries the statement text.

param sqlServerName string
param auditStorageAccountName string
param auditStorageResourceGroup string
@description('https://<account>.blob.core.windows.net/')
param auditBlobEndpoint string
@minValue(1000)
param queueDelayMs int = 1000
@minValue(0)
@maxValue(3285)
param retentionDays int = 90
param auditActionsAndGroups array = [
  'BATCH_COMPLETED_GROUP'
  'SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP'
  'FAILED_DATABASE_AUTHENTICATION_GROUP'
  'BACKUP_RESTORE_GROUP'
  'DATABASE_ROLE_MEMBER_CHANGE_GROUP'
  'DATABASE_PERMISSION_CHANGE_GROUP'
  'DATABASE_PRINCIPAL_CHANGE_GROUP'
  'DATABASE_PRINCIPAL_IMPERSONATION_GROUP'
  'DATABASE_OBJECT_CHANGE_GROUP'
  'SCHEMA_OBJECT_CHANGE_GROUP'
  'DATABASE_OBJECT_OWNERSHIP_CHANGE_GROUP'
  'DATABASE_OPERATION_GROUP'
  'USER_CHANGE_PASSWORD_GROUP'
]

resource sqlServer 'Microsoft.Sql/servers@2023-08-01' existing = {
  name: sqlServerName
}

module writerRole 'audit-writer-role.bicep' = {
  name: 'xelwatch-sql-audit-writer-${uniqueString(sqlServer.id)}'
  scope: resourceGroup(auditStorageResourceGroup)
  params: {
    auditStorageAccountName: auditStorageAccountName
    principalId: sqlServer.identity.principalId
  }
}

resource auditing 'Microsoft.Sql/servers/auditingSettings@2023-08-01' = {
  parent: sqlServer
  name: 'default'
  properties: {
    state: 'Enabled'
    storageEndpoint: auditBlobEndpoint
    storageAccountSubscriptionId: subscription().subscriptionId
    isManagedIdentityInUse: true
    auditActionsAndGroups: auditActionsAndGroups
    queueDelayMs: queueDelayMs
    retentionDays: retentionDays
  }
  dependsOn: [
    writerRole
  ]
}

output auditActionsAndGroups array = auditActionsAndGroups
