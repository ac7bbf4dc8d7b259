// Key Vault for the notifier's webhook URLs and signing secret (a webhook URL
// with an embedded token is a credential). RBAC authorization (no access
// policies), soft delete + purge protection. The app reads the secrets through
// Key Vault references in its app settings, resolved with the user-assigned
// identity (keyVaultReferenceIdentity), which gets Key Vault Secrets User on
// this vault only — the vault holds nothing but xelwatch's secrets.
//
// Secrets are written by ARM from @secure() parameters (control plane: the
// deployer needs no data-plane role). A parameter left empty writes nothing;
// a secret already in the vault is kept (ARM deployments are incremental) and
// main.bicep keeps referencing it when deploy.sh reports it exists.

import { roleIds } from 'roles.bicep'

param location string
param vaultName string
param readerPrincipalId string
@description('Secret name -> value. Empty values are skipped.')
@secure()
param secretValues object
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for s in items(secretValues): if (!empty(s.value)) {
  parent: vault
  name: s.key
  properties: {
    value: s.value
    contentType: 'text/plain'
  }
}]

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, roleIds.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
output id string = vault.id
// Unversioned secret URIs (…/secrets/<name>/) so that a rotated secret is
// picked up without redeploying.
output uri string = vault.properties.vaultUri
