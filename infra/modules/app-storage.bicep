// The function app's own storage account ("host storage", AzureWebJobsStorage):
// the host's keys/leases/blob-trigger queue, the Flex deployment container, and
// the tables and queues xelwatch writes (rows, cursors, detections, state,
// the detections queue and its poison queue).
//
// Hardening: HTTPS only, TLS 1.2, no anonymous blob access, OAuth by default.
// Shared-key access is OFF on Flex Consumption (everything goes through the
// user-assigned identity). Elastic Premium needs an Azure Files content share
// (WEBSITE_CONTENTAZUREFILECONNECTIONSTRING), and Azure Files for the Functions
// content share only accepts an account key, so on that plan shared-key access
// stays ON for this account only (the audit account never needs keys).
//
// Roles for the app identity on this account:
//   Storage Blob Data Owner      host (keys, leases, blob receipts) + Flex deployment package
//   Storage Queue Data Contributor  host's blob-trigger queue, detections queue (+ poison)
//   Storage Table Data Contributor  AuditEvents / AuditCursors / Detections / DetectionState

import { roleIds } from 'roles.bicep'

param location string
param accountName string
@description('Flex Consumption: shared-key access off. Elastic Premium: on (content share).')
param allowSharedKeyAccess bool
param deploymentContainerName string
param tableNames array
param queueNames array
param appPrincipalId string
param tags object = {}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  tags: tags
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    accessTier: 'Hot'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for t in tableNames: {
  parent: tableService
  name: t
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for q in queueNames: {
  parent: queueService
  name: q
}]

var appRoles = [
  roleIds.storageBlobDataOwner
  roleIds.storageQueueDataContributor
  roleIds.storageTableDataContributor
]

resource appRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for r in appRoles: {
  name: guid(account.id, appPrincipalId, r)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer.name}'
