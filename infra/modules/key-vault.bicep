// The Key Vault holding the app registration's certificate (PEM key and
// certificate as one secret, as the JavaScript version kept it). RBAC
// authorization only: no access policies.
// API version: Microsoft.KeyVault 2023-07-01
// (https://learn.microsoft.com/azure/templates/microsoft.keyvault/2023-07-01/vaults).

param name string
param location string
param tags object = {}

@description('Purge protection: a deleted vault cannot be purged for 90 days (production). Off by default so `azd down --purge` can remove a trial deployment; once on it cannot be turned off.')
param purgeProtection bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The API refuses `false`: leave the property out to keep it off.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
