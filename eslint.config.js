// Lint rules: typescript-eslint's type-aware recommendations, and the one boundary of the layout
// that a newcomer could break without noticing (docs/architecture.md).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Only the composition root (src/app.ts) knows both the HTTP side and the domain. */
const HTTP_SIDE = {
  patterns: [
    {
      group: ['**/routes/*', '**/plugins/*'],
      message: 'src/ is the domain: only src/app.ts wires routes/ and plugins/ (docs/architecture.md).',
    },
    {
      group: ['fastify', '@fastify/*'],
      message: 'src/ is free of HTTP: only src/app.ts builds the fastify app (docs/architecture.md).',
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', '.tap/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: { allowDefaultProject: ['*.js', '.ci/*.mjs', 'scripts/*.mjs'] } },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // The store, limiter and task interfaces are asynchronous; an implementation that has nothing to
      // await (SQLite is synchronous) still returns a promise on purpose.
      '@typescript-eslint/require-await': 'off',
      // fastify hands route handlers and hooks around unbound by design; methods read no `this` there.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  { files: ['src/**/*.ts'], ignores: ['src/app.ts'], rules: { 'no-restricted-imports': ['error', HTTP_SIDE] } },
  {
    // These files echo a user's raw value in an error message the way Elasticsearch prints it.
    files: ['src/endpoints/registry.ts', 'src/settings-reader.ts', 'src/chunking/chunking-settings.ts'],
    rules: { '@typescript-eslint/no-base-to-string': 'off' },
  },
  {
    // The segmenter compares const-enum classes with numbers read from its lookup tables: that is the point.
    files: ['src/chunking/segmenter.ts'],
    rules: { '@typescript-eslint/no-unsafe-enum-comparison': 'off' },
  },
  {
    // Tests and benchmarks read answers as parsed JSON (any) and start tap subtests without awaiting
    // each one (tap awaits them in order).
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['public/**/*.js'], languageOptions: { globals: globals.browser, sourceType: 'module' } },
);
