// The xelwatch function app: a Go custom handler on Linux.
//
// plan = 'FlexConsumption' (default): serverless FC1 plan; runtime is declared
//   in functionAppConfig.runtime (name 'custom', version '1.0'), the code
//   package lives in a blob container of the app storage account and is read
//   with the user-assigned identity. FUNCTIONS_WORKER_RUNTIME,
//   FUNCTIONS_EXTENSION_VERSION and WEBSITE_CONTENT* are NOT allowed here.
// plan = 'ElasticPremium': EP1 Linux, for regions where
//   `az functionapp list-flexconsumption-runtimes --runtime custom` lists
//   nothing. Classic settings: FUNCTIONS_WORKER_RUNTIME=custom,
//   FUNCTIONS_EXTENSION_VERSION=~4, an Azure Files content share (account key,
//   see app-storage.bicep), run-from-package zip deployment.
//
// Either way the blob trigger uses the Event Grid source (function.json
// "source": "EventGrid"), so the same event subscription serves both plans.

param location string
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param plan string
param planName string
param appName string
param identityId string
param identityClientId string
param appStorageName string
param deploymentContainerUrl string
param appInsightsConnectionString string
@description('Settings the xelwatch binary reads (main.bicep: xelwatchSettings). Empty values are dropped.')
param appSettings object
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048
@minValue(1)
@maxValue(100)
param maximumElasticWorkerCount int = 3
param tags object = {}

var isFlex = plan == 'FlexConsumption'

resource appStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: appStorageName
}

resource hostingPlan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? {
    name: 'FC1'
    tier: 'FlexConsumption'
  } : {
    name: 'EP1'
    tier: 'ElasticPremium'
  }
  properties: isFlex ? {
    reserved: true
  } : {
    reserved: true
    maximumElasticWorkerCount: maximumElasticWorkerCount
  }
}

// Settings owned by the platform, not read by the xelwatch binary (so not
// part of the no-drift test).
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  // Entra-only ingestion with the user-assigned identity.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Elastic Premium only. The content share connection string carries the
// app account's key: Azure Files content shares do not support identities.
var premiumSettings = isFlex ? {} : {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'custom'
  WEBSITE_CONTENTAZUREFILECONNECTIONSTRING: 'DefaultEndpointsProtocol=https;AccountName=${appStorage.name};AccountKey=${appStorage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
  WEBSITE_CONTENTSHARE: toLower(appName)
  WEBSITE_RUN_FROM_PACKAGE: '1'
}

// Empty values are dropped: go-envconfig treats a setting that is present
// but empty as set, which would override the app's default. Lambdas (not a
// for-expression) because the values are runtime outputs of other modules.
var allSettings = union(appSettings, monitoringSettings, premiumSettings)
var settingsArray = map(filter(items(allSettings), s => !empty(s.value)), s => {
  name: s.key
  value: s.value
})

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: hostingPlan.id
    httpsOnly: true
    // Key Vault references (@Microsoft.KeyVault(SecretUri=...)) are resolved
    // with the user-assigned identity, not a system identity (there is none).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      appSettings: settingsArray
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: isFlex ? {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    } : null
  }
}

// Basic-auth publishing (FTP/SCM with a password) off: deployment goes through
// Entra (az functionapp deployment ... uses the signed-in user's token).
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
