// The audit storage account: where Azure SQL / Managed Instance write their
// .xel audit files (container `sqldbauditlogs`, fixed by Azure SQL auditing)
// and where SQL Server .sqlaudit files are shipped. Deployed into the
// account's own resource group (main.bicep scopes this module), because the
// role assignments and the Event Grid system topic must live beside it.
//
// createAccount = true: a new, hardened account (HTTPS only, TLS 1.2, no
// anonymous access, NO shared keys at all: SQL writes with its managed
// identity, xelwatch reads with its user-assigned identity), blob + container
// soft delete, and optionally a time-based immutability policy with protected
// append writes (WORM: audit files can be appended to but not altered or
// deleted, even by an Owner, until the period ends).
// createAccount = false: an existing account is used as it is (its settings
// are not touched); only the container, roles and topic are ensured.
//
// App identity roles on this account, and why:
//   Storage Queue Data Contributor: the blob trigger keeps its poison queue
//     (webjobs-blobtrigger-poison) in the trigger connection's account.
//   blob access (param auditBlobAccess):
//     'Owner' (default) = Storage Blob Data Owner, what the Functions docs
//       require for a blob-trigger connection (functions-blob-permissions);
//       the only combination documented to work.
//     'Reader' = Storage Blob Data Reader: all xelwatch itself does here is
//       list and read; with the Event Grid source the blob receipts live in
//       the host account, so read should suffice, but it is not the documented
//       role. Choose it to keep a compromised app from deleting audit evidence
//       (the immutability policy is the stronger guard either way).

import { roleIds } from 'roles.bicep'

param location string
param accountName string
param createAccount bool
param containerName string
@allowed([
  'Owner'
  'Reader'
])
param auditBlobAccess string = 'Owner'
@description('Days of time-based immutability (WORM, protected append writes allowed) on the audit container of a NEW account; 0 = off.')
@minValue(0)
param immutabilityDays int = 0
@description('Blob and container soft-delete retention for a NEW account.')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 14
param appPrincipalId string
param createSystemTopic bool
param systemTopicName string
param tags object = {}

resource newAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = if (createAccount) {
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
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    accessTier: 'Hot'
  }
}

resource newBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = if (createAccount) {
  parent: newAccount
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
  dependsOn: [
    newBlobService
  ]
}

resource immutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (createAccount && immutabilityDays > 0) {
  parent: container
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: immutabilityDays
    allowProtectedAppendWrites: true
  }
}

var blobRole = auditBlobAccess == 'Owner' ? roleIds.storageBlobDataOwner : roleIds.storageBlobDataReader
var appRoles = [
  blobRole
  roleIds.storageQueueDataContributor
]

resource appRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for r in appRoles: {
  name: guid(account.id, appPrincipalId, r)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    newAccount
  ]
}]

// One system topic per source resource is allowed: deploy.sh detects an
// existing topic on an existing account and passes createSystemTopic = false.
// The event subscription (WebHook to the blob extension, which needs the
// blobs_extension system key that exists only after the code is deployed) is
// created by deploy.sh afterwards.
resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: systemTopicName
  location: location
  tags: tags
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
  dependsOn: [
    newAccount
  ]
}

output name string = account.name
output id string = account.id
output blobEndpoint string = 'https://${accountName}.blob.${environment().suffixes.storage}/'
output queueEndpoint string = 'https://${accountName}.queue.${environment().suffixes.storage}/'
output systemTopicName string = systemTopicName
