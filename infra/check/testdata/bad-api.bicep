// Deliberately unverified: an API version not in check/api-versions.txt.
resource sa 'Microsoft.Storage/storageAccounts@2099-01-01' = {
  name: 'x'
}
