// Deliberately broken: the resource body opened on line 3 is never closed.
param location string = 'westeurope'
resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'x'
  location: location
  properties: {
    minimumTlsVersion: 'TLS1_2'
