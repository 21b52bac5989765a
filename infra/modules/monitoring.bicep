// Log Analytics and a workspace-based Application Insights: the Functions
// host sends its own telemetry and the custom handler's log lines there.
// API versions: Microsoft.OperationalInsights 2022-10-01
// (https://learn.microsoft.com/azure/templates/microsoft.operationalinsights/2022-10-01/workspaces),
// Microsoft.Insights/components 2020-02-02
// (https://learn.microsoft.com/azure/templates/microsoft.insights/2020-02-02/components).

param workspaceName string
param appInsightsName string
param location string
param tags object = {}

@description('Days logs are kept.')
param retentionDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
  }
}

output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
output connectionString string = appInsights.properties.ConnectionString
output workspaceId string = workspace.id
