// Deliberately wrong wiring: an unknown parameter, a missing required one,
// a missing module file and a missing import.
import { answer } from 'nowhere.bicep'
module child 'child.bicep' = {
  name: 'child'
  params: {
    location: 'westeurope'
    colour: 'blue'
  }
}
module ghost 'ghost.bicep' = {
  name: 'ghost'
}
