// Grants a SQL logical server's system-assigned identity the right to write
// audit files to the audit account: Storage Blob Data Contributor (what Azure
// SQL auditing with managed-identity authentication requires). Deployed in the
// audit account's resource group (called from sql-audit.bicep).

import { roleIds } from 'roles.bicep'

param auditStorageAccountName string
param principalId string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: auditStorageAccountName
}

resource writer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, roleIds.storageBlobDataContributor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
