// The operator's Azure Monitor workbook (workbook/o365.workbook.json), bound
// to the Application Insights resource the host logs to.
// API version: Microsoft.Insights/workbooks 2021-08-01
// (https://learn.microsoft.com/azure/templates/microsoft.insights/2021-08-01/workbooks).

param location string
param tags object = {}
param appInsightsId string
param displayName string

resource workbook 'Microsoft.Insights/workbooks@2021-08-01' = {
  // A workbook's name must be a GUID; this one is stable per App Insights.
  name: guid(appInsightsId, 'o365-activity-to-eventhubs-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    // Lower case: the resource's Workbooks gallery matches on it.
    sourceId: toLower(appInsightsId)
    serializedData: replace(loadTextContent('../workbook/o365.workbook.json'), '__APP_INSIGHTS_ID__', appInsightsId)
  }
}

output id string = workbook.id
