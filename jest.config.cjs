/** jest: TypeScript through swc; a Node environment whose typed arrays are the main realm's (see test/support/environment.cjs). */
module.exports = {
  testEnvironment: '<rootDir>/test/support/environment.cjs',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }],
    '/node_modules/(aedes|content-disposition|cookie|@fastify/cookie)/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'ecmascript', importAttributes: true }, experimental: { keepImportAttributes: false } }, module: { type: 'commonjs' } }],
  },
  // aedes, content-disposition (under @fastify/static) and cookie (imported dynamically by @fastify/cookie) are
  // ESM-only: compile them to CommonJS like our own files (jest's sandbox has neither require(esm) nor import()).
  transformIgnorePatterns: ['/node_modules/(?!aedes/|content-disposition/|cookie/|@fastify/cookie/)'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 120000,
  maxWorkers: 2,
};
