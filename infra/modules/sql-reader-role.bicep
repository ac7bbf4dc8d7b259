// Reader on one Azure SQL logical server for xelwatch's identity: only with
// auditStateRead (XELWATCH_AUDIT_STATE_READ), so that AuditControl can read
// the auditing policy after an audit-settings change and tell "auditing
// disabled" (AUD-008 critical) from "auditing changed". Deployed in the
// server's resource group.

param sqlServerName string
param principalId string

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource server 'Microsoft.Sql/servers@2023-08-01' existing = {
  name: sqlServerName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(server.id, principalId, readerRoleId)
  scope: server
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
