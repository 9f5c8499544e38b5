/** Lua scripts are imported as text: tsup inlines them at build (`loader: { '.lua': 'text' }`), vitest too. */
declare module '*.lua' {
  const source: string
  export default source
}
