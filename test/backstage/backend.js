// The real Backstage backend neuroscale's tests run against: the plugins
// the upstream example image (ghcr.io/backstage/backstage, built from the
// backstage/backstage repository's packages/backend) adds for the Golden
// Path, at the versions of the Backstage release that image is pinned to
// (see README.md). Run it like the image's command does:
//
//	NEUROSCALE_BACKSTAGE_NODE_MODULES=$(test/backstage/install.sh) \
//	  node test/backstage/backend.js --config app-config.yaml
//
// The packages live in a cache outside the repository (install.sh), so
// they are loaded with a require rooted there.
'use strict';

const path = require('node:path');
const { createRequire } = require('node:module');

const modules = process.env.NEUROSCALE_BACKSTAGE_NODE_MODULES;
if (!modules) {
  console.error(
    'backend.js: set NEUROSCALE_BACKSTAGE_NODE_MODULES to the node_modules directory test/backstage/install.sh prints',
  );
  process.exit(2);
}
const load = createRequire(path.join(path.resolve(modules), '..', 'package.json'));

// The example image's plugins on the portal's path, in its order. Left
// out: the app backend (serves the frontend bundle, which is not built
// here), search, techdocs, kubernetes, notifications, signals, events,
// devtools, proxy, user settings and the MCP actions: nothing neuroscale
// checks goes through them.
const features = [
  // auth: GitHub sign-in (prod) and guest sign-in (dev)
  '@backstage/plugin-auth-backend',
  '@backstage/plugin-auth-backend-module-github-provider',
  '@backstage/plugin-auth-backend-module-guest-provider',
  // catalog, with the Template kind
  '@backstage/plugin-catalog-backend-module-scaffolder-entity-model',
  '@backstage/plugin-catalog-backend',
  // permissions: the image allows everything once signed in
  '@backstage/plugin-permission-backend-module-allow-all-policy',
  '@backstage/plugin-permission-backend',
  // scaffolder, with the GitHub actions (publish:github:pull-request)
  '@backstage/plugin-scaffolder-backend',
  '@backstage/plugin-scaffolder-backend-module-github',
];

const { createBackend } = load('@backstage/backend-defaults');
const backend = createBackend();
for (const name of features) {
  backend.add(load(name).default);
}
backend.start().catch(err => {
  console.error(err);
  process.exit(1);
});
