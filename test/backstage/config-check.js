// Checks app-config files against Backstage's own config schema: the
// schemas that the packages of test/backstage/package.json (the backend's
// plugins and @backstage/core-app-api, which declares the frontend's app.*
// keys) and their dependencies declare, collected and applied by
// @backstage/config-loader as `backstage-cli config:check` does. ${VAR}
// references are substituted from the environment, as the backend does.
//
//	NEUROSCALE_BACKSTAGE_NODE_MODULES=$(test/backstage/install.sh) \
//	  node test/backstage/config-check.js app-config.yaml [more.yaml...]
//
// It prints "ok" and exits 0, or prints each schema error and exits 1.
// With --schema it prints the merged schema (JSON) instead.
'use strict';

const path = require('node:path');
const { createRequire } = require('node:module');

const modules = process.env.NEUROSCALE_BACKSTAGE_NODE_MODULES;
if (!modules) {
  console.error('config-check.js: set NEUROSCALE_BACKSTAGE_NODE_MODULES (see install.sh)');
  process.exit(2);
}
const root = path.resolve(modules, '..');
const load = createRequire(path.join(root, 'package.json'));
const { loadConfigSchema, loadConfig } = load('@backstage/config-loader');
const pkg = load('./package.json');

async function main() {
  const args = process.argv.slice(2);
  const printSchema = args[0] === '--schema';
  const files = printSchema ? [] : args;
  if (!printSchema && files.length === 0) {
    console.error('usage: config-check.js FILE... | --schema');
    process.exit(2);
  }
  const schema = await loadConfigSchema({
    dependencies: Object.keys(pkg.dependencies),
    packagePaths: [path.join(root, 'package.json')],
  });
  if (printSchema) {
    // Paths relative to node_modules and a stable order, so the output
    // is the same on every machine (internal/validate embeds it).
    const serialized = schema.serialize();
    const schemas = serialized.schemas
      .map(s => ({ path: s.path.slice(s.path.lastIndexOf('node_modules/') + 'node_modules/'.length), value: s.value }))
      .sort((a, b) => a.path.localeCompare(b.path));
    process.stdout.write(JSON.stringify({ backstageConfigSchemaVersion: serialized.backstageConfigSchemaVersion, schemas }, null, 1) + '\n');
    return;
  }
  const { appConfigs } = await loadConfig({
    configRoot: process.cwd(),
    configTargets: files.map(f => ({ path: path.resolve(f) })),
  });
  try {
    schema.process(appConfigs, {
      visibility: ['frontend', 'backend', 'secret'],
    });
  } catch (err) {
    console.log(String(err.message || err));
    process.exit(1);
  }
  console.log('ok');
}

main().catch(err => {
  console.error(err);
  process.exit(2);
});
