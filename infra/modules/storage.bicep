// The storage account: the Functions host's own storage (identity-based
// AzureWebJobsStorage), the Flex Consumption deployment container, the
// host's checkpoints and the component registry. Shared-key access is off:
// everything reaches it with Entra ID (managed identity, operators' logins).
// API version: Microsoft.Storage 2023-05-01
// (https://learn.microsoft.com/azure/templates/microsoft.storage/2023-05-01/storageaccounts).

param name string
param location string
param tags object = {}

@description('Blob containers to create: checkpoints, components, the Flex Consumption deployment package.')
param containers array

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for c in containers: {
    parent: blobs
    name: c
    properties: { publicAccess: 'None' }
  }
]

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
