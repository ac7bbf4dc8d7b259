// Module target for good.bicep and bad-module.bicep.
@export()
var answer = '42'
param location string
param required string
param optional int = 1
output location string = location
