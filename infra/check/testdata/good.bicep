// Parses cleanly; module wiring matches child.bicep.
import { answer } from 'child.bicep'
param location string = 'westeurope'
module child 'child.bicep' = {
  name: 'child'
  params: {
    location: location
    required: answer
  }
}
