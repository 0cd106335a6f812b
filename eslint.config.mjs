// @ts-check
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier/flat';
import rxjsX from 'eslint-plugin-rxjs-x';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'coverage/', 'docs/', '.consumers/', '.examples-check/', 'scratch/'] },
  eslint.configs.recommended,
  {
    // Type-checked rules (and rxjs-x, which needs types) for every TypeScript file.
    files: ['**/*.ts'],
    extends: [tseslint.configs.strictTypeChecked, tseslint.configs.stylisticTypeChecked, rxjsX.configs.recommended],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      // Template literals with numbers are how messages are written here.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'rxjs-x/no-ignored-subscription': 'error',
      'rxjs-x/no-exposed-subjects': 'error',
      'rxjs-x/throw-error': 'error',
    },
  },
  {
    // Tests and marble specs subscribe for the length of a test and read results back loosely.
    files: ['marbles/**/*.ts', 'tests/**/*.ts'],
    rules: {
      'rxjs-x/no-ignored-subscription': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // The benchmark reads its own results back and closes every notifier (which ends its subscriptions).
    files: ['bench/**/*.ts'],
    rules: {
      'rxjs-x/no-ignored-subscription': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Plain Node scripts (build, checks, embedded server, jest hooks).
    files: ['**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
      },
    },
  },
  prettier,
);
