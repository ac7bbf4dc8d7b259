// Log Analytics workspace + workspace-based Application Insights with
// Entra-only ingestion: DisableLocalAuth rejects telemetry sent with the
// instrumentation key alone; the app authenticates with its user-assigned
// identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING, set in functionapp.bicep)
// and needs Monitoring Metrics Publisher on the component (granted here).

import { roleIds } from 'roles.bicep'

param location string
param workspaceName string
param appInsightsName string
param retentionInDays int = 30
@description('Principal (object) id of the app identity that publishes telemetry.')
param publisherPrincipalId string
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  kind: 'web'
  tags: tags
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, publisherPrincipalId, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: publisherPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output appInsightsName string = appInsights.name
output connectionString string = appInsights.properties.ConnectionString
output workspaceId string = workspace.id
