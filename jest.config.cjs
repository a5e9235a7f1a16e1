/** jest: TypeScript through swc; a Node environment whose typed arrays are the main realm's (see test/support/environment.cjs). */
module.exports = {
  testEnvironment: '<rootDir>/test/support/environment.cjs',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }],
    '/node_modules/aedes/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'ecmascript', importAttributes: true }, experimental: { keepImportAttributes: false } }, module: { type: 'commonjs' } }],
  },
  // aedes is ESM-only (import attributes included): compile it to CommonJS like our own files.
  transformIgnorePatterns: ['/node_modules/(?!aedes/)'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 120000,
  maxWorkers: 2,
};
