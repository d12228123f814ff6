/** Jest: ts-jest in jsdom; CSS imports are stubbed. */
module.exports = {
  testEnvironment: 'jsdom',
  testMatch: ['<rootDir>/test/**/*.spec.ts?(x)'],
  moduleNameMapper: { '\\.css$': '<rootDir>/test/style-stub.js' },
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
