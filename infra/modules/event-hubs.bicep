// The Event Hubs namespace (Standard: 1 MB events, consumer groups for the
// SIEM) and the hubs the host publishes to. Local (SAS) auth is off: the
// Function App sends with its managed identity (Azure Event Hubs Data Sender).
// API version: Microsoft.EventHub 2024-01-01
// (https://learn.microsoft.com/azure/templates/microsoft.eventhub/2024-01-01/namespaces).

param name string
param location string
param tags object = {}

@description('Hub names; duplicates are removed (audit and message traces may share one hub).')
param hubs array

@description('Days an event stays in a hub (Standard: 1 to 7).')
@minValue(1)
@maxValue(7)
param retentionDays int = 1

@description('Partitions per hub.')
param partitions int = 4

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard', capacity: 1 }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = [
  for h in union(hubs, []): {
    parent: namespace
    name: h
    properties: {
      partitionCount: partitions
      messageRetentionInDays: retentionDays
    }
  }
]

output name string = namespace.name
output id string = namespace.id
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
