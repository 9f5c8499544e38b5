import { runSeedExamples } from './seed-examples.js'

runSeedExamples(' (in-memory default)')
