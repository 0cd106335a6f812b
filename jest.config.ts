import type { Config } from 'jest';

// Sources are written NodeNext-style (`./x.js` imports, ESM package); ts-jest compiles
// them to CommonJS for Jest, so the `.js` suffix is mapped back to the `.ts` file.
const transform: Config['transform'] = {
  '^.+\\.ts$': [
    'ts-jest',
    {
      tsconfig: {
        module: 'commonjs',
        moduleResolution: 'node10',
        esModuleInterop: true,
        verbatimModuleSyntax: false,
        isolatedModules: true,
        strict: true,
        target: 'es2022',
        types: ['node', 'jest'],
      },
    },
  ],
};
const moduleNameMapper = {
  '^(\\.{1,2}/.*)\\.js$': '$1',
  // Examples import the package by name, as users do; here that name is the source.
  '^pgnotifier$': '<rootDir>/src/index.ts',
  '^pgnotifier/nats$': '<rootDir>/src/nats/index.ts',
};

const config: Config = {
  // Generous: these tests wait on a real server; failures come from assertions, not the clock.
  testTimeout: 60_000,
  projects: [
    {
      displayName: 'marbles',
      testEnvironment: 'node',
      roots: ['<rootDir>/marbles'],
      transform,
      moduleNameMapper,
    },
    {
      displayName: 'tests',
      testEnvironment: 'node',
      roots: ['<rootDir>/tests'],
      transform,
      moduleNameMapper,
      // One PostgreSQL for the whole run: the machine's (DATABASE_URL) or an embedded one.
      globalSetup: '<rootDir>/tests/support/global-setup.mjs',
      globalTeardown: '<rootDir>/tests/support/global-teardown.mjs',
    },
  ],
};

export default config;
