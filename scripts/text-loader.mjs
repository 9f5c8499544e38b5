// Child processes in tests run the TypeScript sources through tsx, which does not know `.sql` or `.lua`
// imports. This registers a load hook that turns them into text modules, as tsup does at build and the
// root vitest config does in tests. Use: node --conditions=source --import tsx --import <this file> x.ts
import { register } from 'node:module'

register('./text-hooks.mjs', import.meta.url)
