// Lua scripts and SQL files are imported as text: tsup inlines them at build (loader 'text'), the root
// vitest config and scripts/text-loader.mjs do the same in tests. Packages that import another package's
// sources (through the `source` condition) include this file in their tsconfig.
declare module '*.lua' {
  const text: string
  export default text
}
declare module '*.sql' {
  const text: string
  export default text
}
