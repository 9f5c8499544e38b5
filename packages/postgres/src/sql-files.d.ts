/** Migration files are inlined as text: by tsup's `loader` at build and by the root vitest config in tests. */
declare module '*.sql' {
  const text: string
  export default text
}
