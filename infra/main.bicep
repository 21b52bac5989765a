// azd entry point: one resource group with everything o365-host needs in
// Azure. Each module is one resource family; infra/README.md says what was
// checked and how.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Azure region for every resource (one that offers Flex Consumption).')
param location string

@description('Tenant (directory) id to collect from (ENTRA_TENANT_ID).')
param entraTenantId string

@description('Application (client) id of the app registration (ENTRA_APP_CLIENT_ID).')
param entraAppClientId string

@description('Name of the Key Vault secret holding the app\'s PEM key and certificate (ENTRA_APP_CLIENT_CERTIFICATE_NAME).')
param certificateName string = 'o365-collector'

@description('Sources to run, comma-separated (O365_SOURCES).')
param sources string = 'audit,message-trace'

@description('NCRONTAB with seconds (AUDIT_LOGS_INDEXER_SCHEDULE).')
param auditSchedule string = '0 */5 * * * *'

@description('NCRONTAB with seconds (MESSAGE_TRACES_INDEXER_SCHEDULE).')
param messageTraceSchedule string = '0 */5 * * * *'

@description('Hub for audit events (AUDIT_LOGS_EVENT_HUB_NAME).')
param auditHubName string = 'securityevents'

@description('Hub for message-trace events (MESSAGE_TRACES_EVENT_HUB_NAME); the same hub by default.')
param messageTraceHubName string = 'securityevents'

@description('Scale out across instances (docs/scale.md): `o365-cycles` makes each timer enqueue one cycle request per tenant and the runCycle queue trigger run them (O365_CYCLE_QUEUE); empty: each timer runs its cycles itself.')
@allowed(['', 'o365-cycles'])
param cycleQueue string = ''

@description('Extra app settings (O365_TENANTS, O365_TENANT_<KEY>__<NAME>, ...), merged over the generated ones.')
param additionalAppSettings object = {}

@description('Key Vault purge protection (recommended for production; cannot be turned off again).')
param keyVaultPurgeProtection bool = false

@description('Object id of the operator running azd (AZURE_PRINCIPAL_ID): may set the certificate secret and publish components. Empty: no operator roles.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var checkpointContainer = 'o365-checkpoints'
var deploymentContainer = 'app-package-${take(token, 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  scope: rg
  name: 'storage'
  params: {
    name: 'st${token}'
    location: location
    tags: tags
    containers: [checkpointContainer, 'components', deploymentContainer]
  }
}

module eventHubs 'modules/event-hubs.bicep' = {
  scope: rg
  name: 'event-hubs'
  params: {
    name: 'evhns-${token}'
    location: location
    tags: tags
    hubs: [auditHubName, messageTraceHubName]
  }
}

module keyVault 'modules/key-vault.bicep' = {
  scope: rg
  name: 'key-vault'
  params: {
    name: 'kv-${take(token, 20)}'
    location: location
    tags: tags
    purgeProtection: keyVaultPurgeProtection
  }
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: {
    workspaceName: 'log-${token}'
    appInsightsName: 'appi-${token}'
    location: location
    tags: tags
  }
}

module functionApp 'modules/function-app.bicep' = {
  scope: rg
  name: 'function-app'
  params: {
    name: 'func-${token}'
    planName: 'plan-${token}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainer: deploymentContainer
    appInsightsConnectionString: monitoring.outputs.connectionString
    tenantId: entraTenantId
    appClientId: entraAppClientId
    keyVaultName: keyVault.outputs.name
    certificateName: certificateName
    sources: sources
    auditSchedule: auditSchedule
    messageTraceSchedule: messageTraceSchedule
    eventHubsNamespace: eventHubs.outputs.fullyQualifiedNamespace
    auditHub: auditHubName
    messageTraceHub: messageTraceHubName
    checkpointContainer: checkpointContainer
    cycleQueue: cycleQueue
    additionalAppSettings: additionalAppSettings
  }
}

module roles 'modules/roles.bicep' = {
  scope: rg
  name: 'roles'
  params: {
    appPrincipalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    eventHubsNamespaceName: eventHubs.outputs.name
    keyVaultName: keyVault.outputs.name
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
  }
}

module workbook 'modules/workbook.bicep' = {
  scope: rg
  name: 'workbook'
  params: {
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
    displayName: 'o365-activity-to-eventhubs (${environmentName})'
  }
}

// azd stores these in the environment (.azure/<env>/.env) for the hooks.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_EVENT_HUBS_NAMESPACE string = eventHubs.outputs.fullyQualifiedNamespace
output O365_CERTIFICATE_NAME string = certificateName
