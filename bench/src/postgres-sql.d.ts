// `oqronkit/postgres` resolves to the adapter's sources here (the `source` condition), which import their
// migrations as text; tsc needs to know what such an import is.
declare module '*.sql' {
  const text: string
  export default text
}
