// The Function App running `o365-host` as a custom handler on the Flex
// Consumption plan (Linux), with a system-assigned managed identity and
// identity-based connections only (no keys in settings).
// API version: Microsoft.Web 2024-04-01 (`functionAppConfig` exists from
// 2023-12-01; https://learn.microsoft.com/azure/templates/microsoft.web/2024-04-01/sites).
// Flex Consumption takes the runtime from `functionAppConfig.runtime`, not from
// the FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION app settings, so
// neither is set here; `custom` / `1.0` is the FC1 entry of the custom-handler
// stack (see infra/README.md for the sources).

param name string
param planName string
param location string
param tags object = {}

@description('Storage account for AzureWebJobsStorage, checkpoints and the deployment package.')
param storageAccountName string
@description('Blob endpoint of that account, e.g. https://<name>.blob.core.windows.net/.')
param storageBlobEndpoint string
@description('Container that Flex Consumption deploys the package from.')
param deploymentContainer string
param appInsightsConnectionString string

// What the host reads (see `o365-host config keys --json`).
param tenantId string
param appClientId string
param keyVaultName string
param certificateName string
param sources string
param auditSchedule string
param messageTraceSchedule string
param eventHubsNamespace string
param auditHub string
param messageTraceHub string
param checkpointContainer string
@description('O365_CYCLE_QUEUE: `o365-cycles` (the queue functions/runCycle listens on) to scale out; empty: off.')
param cycleQueue string = ''

@description('More settings, e.g. O365_TENANTS and O365_TENANT_<KEY>__<NAME> for several tenants; they win over the ones above.')
param additionalAppSettings object = {}

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

// The drift test (host/tests/deployment_templates.rs) reads every quoted
// name between the two marker lines and checks it against the host's
// `config keys`; keep one `'NAME': value` per line between them.
var settings = {
  // app-settings:begin
  'AzureWebJobsStorage__accountName': storageAccountName
  'APPLICATIONINSIGHTS_CONNECTION_STRING': appInsightsConnectionString
  'ENTRA_TENANT_ID': tenantId
  'ENTRA_APP_CLIENT_ID': appClientId
  'ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME': keyVaultName
  'ENTRA_APP_CLIENT_CERTIFICATE_NAME': certificateName
  'O365_SOURCES': sources
  'AUDIT_LOGS_INDEXER_SCHEDULE': auditSchedule
  'MESSAGE_TRACES_INDEXER_SCHEDULE': messageTraceSchedule
  'EventHub__fullyQualifiedNamespace': eventHubsNamespace
  'AUDIT_LOGS_EVENT_HUB_NAME': auditHub
  'MESSAGE_TRACES_EVENT_HUB_NAME': messageTraceHub
  'O365_CHECKPOINT_CONTAINER': checkpointContainer
  'O365_CYCLE_QUEUE': cycleQueue
  'O365_COMPONENT_CACHE_DIR': '/tmp/o365-host/components'
  'O365_LOG_FORMAT': 'json'
  // app-settings:end
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'host' })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [for s in items(union(settings, additionalAppSettings)): { name: s.key, value: s.value }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      runtime: { name: 'custom', version: '1.0' }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
    }
  }
}

output name string = app.name
output id string = app.id
output principalId string = app.identity.principalId
