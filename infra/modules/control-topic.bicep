// The Event Grid system topic of Azure Resource Manager events that
// AuditControl watches (Azure SQL audit settings, diagnostic settings, the
// audit account, xelwatch's own subscriptions and app: rules AUD-008..012).
// Scope 'resourceGroup': the resource group the SQL servers, the audit
// account and xelwatch live in (topic type Microsoft.Resources.ResourceGroups);
// 'subscription': every resource group of the subscription
// (Microsoft.Resources.Subscriptions). Both are global system topics kept in
// this resource group. The event subscription (a webhook to AuditControl
// with the eventgrid_extension system key) is created by infra/deploy.sh
// once the code is deployed, filtered on the event types and on
// data.operationName (StringIn, the list of detect.OperationNames).

param topicName string
@allowed([
  'resourceGroup'
  'subscription'
])
param scope string = 'resourceGroup'
param tags object = {}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: topicName
  location: 'global'
  tags: tags
  properties: {
    source: scope == 'subscription' ? subscription().id : resourceGroup().id
    topicType: scope == 'subscription' ? 'Microsoft.Resources.Subscriptions' : 'Microsoft.Resources.ResourceGroups'
  }
}

output name string = topic.name
output id string = topic.id
